//! A token's objects by handle, with the indexes `C_FindObjectsInit` uses and
//! the running memory count the capacity checks use.
//!
//! Searches almost always name the class and a label or an id, so objects are
//! indexed by `CKA_CLASS`, `CKA_LABEL` and `CKA_ID` value. A search starts
//! from the smallest index set its template names (all objects when it names
//! none) and checks each candidate fully, so a search for one object by
//! label costs the same on a token of 100 or 100,000 objects. The index sets
//! are ordered, so results come out in handle order without sorting.
//!
//! Every change goes through `insert`/`remove`/`retain`, which keep the
//! indexes and the memory count in step; `replace_all` is for changes that
//! touch neither (opening and closing sealed secrets at login and logout).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::ck::*;
use crate::object::attribute::Attribute;
use crate::object::Object;

/// The attributes objects are indexed by.
const INDEXED: [CK_ATTRIBUTE_TYPE; 3] = [CKA_CLASS, CKA_LABEL, CKA_ID];

type Handles = BTreeSet<CK_OBJECT_HANDLE>;

/// Objects by handle plus their search indexes.
#[derive(Debug, Default)]
pub struct ObjectTable {
    objects: HashMap<CK_OBJECT_HANDLE, Arc<Object>>,
    all: Handles,
    /// One map per `INDEXED` attribute: value → handles.
    index: [HashMap<Vec<u8>, Handles>; 3],
    /// Bytes taken by public and by private token objects.
    token_bytes: (usize, usize),
}

impl ObjectTable {
    /// An empty table.
    pub fn new() -> Self {
        ObjectTable::default()
    }

    /// The object with this handle.
    pub fn get(&self, handle: CK_OBJECT_HANDLE) -> Option<&Arc<Object>> {
        self.objects.get(&handle)
    }

    /// How many objects (token and session) there are.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Bytes used by (public, private) token objects.
    pub fn token_bytes(&self) -> (usize, usize) {
        self.token_bytes
    }

    fn account(&mut self, o: &Object, add: bool) {
        if o.session.is_some() {
            return;
        }
        let n = o.size();
        let slot = if o.is_private() {
            &mut self.token_bytes.1
        } else {
            &mut self.token_bytes.0
        };
        *slot = if add {
            slot.saturating_add(n)
        } else {
            slot.saturating_sub(n)
        };
    }

    fn unindex(&mut self, handle: CK_OBJECT_HANDLE, o: &Object) {
        self.all.remove(&handle);
        for (i, ty) in INDEXED.iter().enumerate() {
            if let Some(v) = o.attrs.get(ty) {
                if let Some(set) = self.index[i].get_mut(v.as_slice()) {
                    set.remove(&handle);
                    if set.is_empty() {
                        self.index[i].remove(v.as_slice());
                    }
                }
            }
        }
        self.account(o, false);
    }

    /// Adds or replaces an object; returns the one it replaced.
    pub fn insert(&mut self, handle: CK_OBJECT_HANDLE, o: Arc<Object>) -> Option<Arc<Object>> {
        let old = self.remove(handle);
        self.all.insert(handle);
        for (i, ty) in INDEXED.iter().enumerate() {
            if let Some(v) = o.attrs.get(ty) {
                self.index[i].entry(v.clone()).or_default().insert(handle);
            }
        }
        self.account(&o, true);
        self.objects.insert(handle, o);
        old
    }

    /// Removes an object.
    pub fn remove(&mut self, handle: CK_OBJECT_HANDLE) -> Option<Arc<Object>> {
        let o = self.objects.remove(&handle)?;
        self.unindex(handle, &o);
        Some(o)
    }

    /// Keeps only the objects `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&Object) -> bool) {
        let gone: Vec<CK_OBJECT_HANDLE> = self
            .objects
            .iter()
            .filter(|(_, o)| !keep(o))
            .map(|(h, _)| *h)
            .collect();
        for h in gone {
            self.remove(h);
        }
    }

    /// Replaces objects by `f`'s result where it gives one. The replacement
    /// must keep the indexed attributes, `CKA_PRIVATE` and the stored size
    /// (opening or closing sealed secrets does).
    pub fn replace_all(&mut self, mut f: impl FnMut(&Object) -> Option<Object>) {
        for o in self.objects.values_mut() {
            if let Some(new) = f(o) {
                debug_assert!(INDEXED
                    .iter()
                    .all(|ty| new.attrs.get(ty) == o.attrs.get(ty)));
                debug_assert_eq!(new.size(), o.size());
                *o = Arc::new(new);
            }
        }
    }

    /// The objects matching `template` that `visible` accepts, in handle
    /// order. Only the smallest index set the template names is walked.
    pub fn find(
        &self,
        template: &[Attribute],
        visible: impl Fn(&Object) -> bool,
    ) -> Vec<CK_OBJECT_HANDLE> {
        let mut candidates = &self.all;
        for a in template {
            if let Some(i) = INDEXED.iter().position(|t| *t == a.ty) {
                match self.index[i].get(a.value.as_slice()) {
                    Some(set) if set.len() < candidates.len() => candidates = set,
                    Some(_) => {}
                    None => return Vec::new(),
                }
            }
        }
        candidates
            .iter()
            .filter_map(|h| {
                let o = self.objects.get(h)?;
                (visible(o) && o.matches(template)).then_some(*h)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::attribute::{AttrMap, AttrMapExt};

    fn data(label: &str, id: &[u8], token: bool, private: bool) -> Arc<Object> {
        let mut attrs = AttrMap::new();
        attrs.set_ulong(CKA_CLASS, CKO_DATA);
        attrs.insert(CKA_LABEL, label.as_bytes().to_vec());
        attrs.insert(CKA_ID, id.to_vec());
        attrs.set_bool(CKA_TOKEN, token);
        attrs.set_bool(CKA_PRIVATE, private);
        Arc::new(Object::new(0, (!token).then_some(1), attrs))
    }

    fn label(l: &str) -> Attribute {
        Attribute::bytes(CKA_LABEL, l.as_bytes().to_vec())
    }

    #[test]
    fn find_uses_indexes_and_follows_every_change() {
        let mut t = ObjectTable::new();
        for h in 1..=50u64 {
            t.insert(h, data(&format!("o{}", h % 10), &[h as u8], true, false));
        }
        let class = Attribute::ulong(CKA_CLASS, CKO_DATA);
        assert_eq!(t.find(std::slice::from_ref(&class), |_| true).len(), 50);
        assert_eq!(
            t.find(&[class.clone(), label("o3")], |_| true),
            vec![3, 13, 23, 33, 43]
        );
        assert_eq!(
            t.find(&[label("o3"), Attribute::bytes(CKA_ID, vec![13])], |_| true),
            vec![13]
        );
        assert!(t.find(&[label("nope")], |_| true).is_empty());
        assert!(t
            .find(&[Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE)], |_| true)
            .is_empty());
        // Replacing an object moves it between index sets.
        t.insert(13, data("renamed", &[13], true, false));
        assert_eq!(t.find(&[label("o3")], |_| true), vec![3, 23, 33, 43]);
        assert_eq!(t.find(&[label("renamed")], |_| true), vec![13]);
        t.remove(3);
        t.retain(|o| o.attrs.get(&CKA_ID) != Some(&vec![23]));
        assert_eq!(t.find(&[label("o3")], |_| true), vec![33, 43]);
        assert_eq!(t.len(), 48);
        // Visibility is the caller's.
        assert_eq!(
            t.find(&[label("o3")], |o| o.attrs.get(&CKA_ID) == Some(&vec![43])),
            vec![43]
        );
        // An empty template finds everything, in handle order.
        let all = t.find(&[], |_| true);
        assert_eq!(all.len(), 48);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn token_bytes_count_token_objects_only() {
        let mut t = ObjectTable::new();
        let public = data("a", b"1", true, false);
        let private = data("b", b"2", true, true);
        let (np, nq) = (public.size(), private.size());
        t.insert(1, public);
        t.insert(2, private);
        t.insert(3, data("c", b"3", false, false));
        assert_eq!(t.token_bytes(), (np, nq));
        t.remove(1);
        assert_eq!(t.token_bytes(), (0, nq));
        t.retain(|_| false);
        assert_eq!(t.token_bytes(), (0, 0));
        assert!(t.is_empty());
    }
}
