//! A token: its persistent metadata (label, serial, PINs, retry counters), its
//! objects, and the in-process login state. The store is the source of truth;
//! this keeps a cache that follows the store's generation counter, so changes
//! made by other processes show up and unchanged objects are not re-read.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokenemu_store::{Change, Store, StoreError, StoreIdentity, View};

use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::table::ObjectTable;
use crate::object::Object;
use crate::profile::Profile;
use crate::sealing::{MasterKey, WrappedKey};

/// The metadata format this version writes and reads.
const META_VERSION: u32 = 2;

/// What the store keeps about a token besides its objects.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenMeta {
    /// Format version.
    pub version: u32,
    /// The token label (at most 32 bytes).
    pub label: String,
    /// The serial number (at most 16 characters).
    pub serial: String,
    /// The master key wrapped under the SO PIN.
    pub so_key: Option<WrappedKey>,
    /// The master key wrapped under the user PIN; `None` until C_InitPIN after C_InitToken.
    pub user_key: Option<WrappedKey>,
    /// The user PIN is still the profile's default (or was set by the SO).
    pub user_pin_to_be_changed: bool,
    /// The SO PIN is still the profile's default.
    pub so_pin_to_be_changed: bool,
    /// Wrong user PIN attempts left.
    pub user_tries_left: u32,
    /// Wrong SO PIN attempts left.
    pub so_tries_left: u32,
}

/// Who is logged in to a token (in this process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Login {
    /// Nobody.
    Public,
    /// The normal user.
    User,
    /// The security officer.
    So,
}

/// Which PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The user PIN.
    User,
    /// The SO PIN.
    So,
}

/// A token's state in this process.
#[derive(Debug)]
pub struct Token {
    /// Its slot.
    pub slot_id: CK_SLOT_ID,
    /// Its profile.
    pub profile: Arc<Profile>,
    store: Arc<Store>,
    generation: u64,
    /// When the store generation was last compared with ours.
    checked: Option<std::time::Instant>,
    /// Persistent metadata (None until the first load).
    meta: Option<TokenMeta>,
    /// Token and session objects by handle, indexed for searches.
    objects: ObjectTable,
    by_uid: HashMap<u64, (CK_OBJECT_HANDLE, u64)>,
    handles: Arc<AtomicU64>,
    /// Who is logged in.
    pub login: Login,
    /// The master key, known while someone is logged in.
    master: Option<MasterKey>,
    /// Open sessions: handle → read-write.
    pub sessions: std::collections::BTreeMap<CK_SESSION_HANDLE, bool>,
    /// Wrong PINs (user, SO) counted in this process on a write-protected
    /// token, whose store cannot record them: they count against the tries
    /// left as if they had been stored, so a read-only store is not an
    /// unlimited PIN oracle within a process, across C_Finalize and
    /// C_Initialize too (kept with the warm cache; see ARCHITECTURE.md).
    unsaved_failures: (u32, u32),
}

/// What a token's cache leaves behind when the module is finalized, for the
/// next `C_Initialize` in this process: the parsed objects, valid for the
/// same store (identity) at the same generation. A later generation is
/// caught up with like any change by another process (unchanged records are
/// not parsed again). No secret is kept: the token logs out first.
#[derive(Debug)]
struct Warm {
    identity: StoreIdentity,
    generation: u64,
    meta: TokenMeta,
    objects: ObjectTable,
    by_uid: HashMap<u64, (CK_OBJECT_HANDLE, u64)>,
    /// A write-protected token's unstored PIN failures outlive the module too.
    unsaved_failures: (u32, u32),
}

/// Warm caches by store directory.
fn warm_caches() -> &'static Mutex<HashMap<PathBuf, Warm>> {
    static WARM: OnceLock<Mutex<HashMap<PathBuf, Warm>>> = OnceLock::new();
    WARM.get_or_init(Default::default)
}

impl Drop for Token {
    fn drop(&mut self) {
        let (Some(meta), Ok(identity)) = (self.meta.take(), self.store.identity()) else {
            return;
        };
        self.logout();
        self.drop_session_objects(None);
        let warm = Warm {
            identity,
            generation: self.generation,
            meta,
            objects: std::mem::take(&mut self.objects),
            by_uid: std::mem::take(&mut self.by_uid),
            unsaved_failures: self.unsaved_failures,
        };
        warm_caches()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(self.store.dir().to_path_buf(), warm);
    }
}

fn record_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Fills a serial pattern: `#` → random hex digit, `9` → random decimal digit.
fn make_serial(pattern: &str) -> Result<String> {
    let mut rnd = vec![0u8; pattern.len()];
    crate::crypto::random_fill(&mut rnd)?;
    Ok(pattern
        .chars()
        .zip(rnd)
        .map(|(c, r)| match c {
            '#' => char::from_digit(u32::from(r % 16), 16)
                .unwrap_or('0')
                .to_ascii_uppercase(),
            '9' => char::from_digit(u32::from(r % 10), 10).unwrap_or('0'),
            other => other,
        })
        .collect())
}

impl Token {
    /// Opens the token in `store`; the store is read on first use (only what
    /// changed since, if this process finalized a module using it before:
    /// object handles are unique in the process, so they stay valid).
    pub fn new(
        slot_id: CK_SLOT_ID,
        profile: Arc<Profile>,
        store: Store,
        handles: Arc<AtomicU64>,
    ) -> Token {
        let warm = store.identity().ok().and_then(|id| {
            let mut caches = warm_caches()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            caches.remove(store.dir()).filter(|w| w.identity == id)
        });
        let mut t = Token {
            slot_id,
            profile,
            store: Arc::new(store),
            generation: 0,
            checked: None,
            meta: None,
            objects: ObjectTable::new(),
            by_uid: HashMap::new(),
            handles,
            login: Login::Public,
            master: None,
            sessions: Default::default(),
            unsaved_failures: (0, 0),
        };
        if let Some(w) = warm {
            t.generation = w.generation;
            t.meta = Some(w.meta);
            t.objects = w.objects;
            t.by_uid = w.by_uid;
            t.unsaved_failures = w.unsaved_failures;
        }
        t
    }

    /// The store (for presence checks).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the token is write-protected: its store is on a read-only
    /// file system or in a directory this process cannot write to.
    pub fn write_protected(&self) -> bool {
        self.store.is_read_only()
    }

    /// What a write attempted through a read-only session answers:
    /// `CKR_TOKEN_WRITE_PROTECTED` has the higher priority (PKCS#11 v2.40
    /// 5.1.6 / v3.0 5.1.6, CKR_SESSION_READ_ONLY), and on a write-protected
    /// token every session is read-only.
    pub fn read_only_session_error(&self) -> Error {
        if self.write_protected() {
            Error::TokenWriteProtected
        } else {
            Error::SessionReadOnly
        }
    }

    /// A store failure, with the slot and, for a damaged store, how to recover.
    fn store_error(&self, e: StoreError) -> Error {
        Error::slot_store(self.slot_id, self.store.dir(), e)
    }

    /// PIN tries left for `who`, less the failures this process could not
    /// store (while the token is write-protected).
    fn tries_left(&self, meta: &TokenMeta, who: Who) -> u32 {
        if !self.write_protected() {
            return match who {
                Who::User => meta.user_tries_left,
                Who::So => meta.so_tries_left,
            };
        }
        match who {
            Who::User => meta.user_tries_left.saturating_sub(self.unsaved_failures.0),
            Who::So => meta.so_tries_left.saturating_sub(self.unsaved_failures.1),
        }
    }

    fn next_handle(&self) -> CK_OBJECT_HANDLE {
        self.handles.fetch_add(1, Ordering::Relaxed)
    }

    /// The metadata (after `refresh`).
    pub fn meta(&self) -> Result<&TokenMeta> {
        self.meta
            .as_ref()
            .ok_or_else(|| Error::General("token metadata not loaded".into()))
    }

    fn fresh_meta(&self) -> Result<TokenMeta> {
        let p = &self.profile;
        let mk = MasterKey::generate()?;
        Ok(TokenMeta {
            version: META_VERSION,
            label: p.token.label.clone(),
            serial: make_serial(&p.token.serial_pattern)?,
            so_key: Some(WrappedKey::wrap(
                &mk,
                p.pin.default_so_pin.as_bytes(),
                "so",
            )?),
            user_key: Some(WrappedKey::wrap(
                &mk,
                p.pin.default_user_pin.as_bytes(),
                "user",
            )?),
            user_pin_to_be_changed: true,
            so_pin_to_be_changed: true,
            user_tries_left: p.pin.user_retries,
            so_tries_left: p.pin.so_retries,
        })
    }

    /// [`refresh`](Self::refresh) unless the store was checked less than
    /// `max_age` ago (`Duration::ZERO`: always).
    pub fn refresh_within(&mut self, max_age: std::time::Duration) -> Result<()> {
        match self.checked {
            Some(at) if self.meta.is_some() && at.elapsed() < max_age => Ok(()),
            _ => self.refresh(),
        }
    }

    /// Brings the cache up to date with the store; creates the token on first use.
    pub fn refresh(&mut self) -> Result<()> {
        let checked = std::time::Instant::now();
        let store = self.store.clone();
        if self.meta.is_none() {
            store
                .view(|v| self.apply(v))
                .map_err(|e| self.store_error(e))??;
        } else {
            store
                .view_if_changed(self.generation, |v| self.apply(v))
                .map_err(|e| self.store_error(e))?
                .transpose()?;
        }
        if self.meta.is_none() && self.write_protected() {
            return Err(self.store_error(StoreError::ReadOnly {
                path: self.store.dir().to_path_buf(),
                reason: "it holds no token yet, and one cannot be created there".to_owned(),
            }));
        }
        if self.meta.is_none() {
            let meta = self.fresh_meta()?;
            tracing::info!(
                slot = self.slot_id,
                profile = %self.profile.name,
                store = %self.store.dir().display(),
                "creating a new token with the profile's default PINs"
            );
            self.commit_meta(meta)?;
        }
        self.checked = Some(checked);
        Ok(())
    }

    /// Brings the cache to the store's state in `snap`: records whose bytes
    /// did not change are not parsed again.
    fn apply(&mut self, snap: View<'_>) -> Result<()> {
        tracing::debug!(
            slot = self.slot_id,
            generation = snap.generation,
            objects = snap.objects.len(),
            "loading token state from the store"
        );
        let dir = self.store.dir().display();
        let advice = crate::error::damaged_store_advice(self.slot_id, self.store.dir());
        self.meta = match snap.meta {
            Some(bytes) => {
                let meta: TokenMeta = serde_json::from_slice(bytes).map_err(|e| {
                    Error::DeviceError(format!(
                        "token store {dir}: metadata is not readable (written by another tokenemu version?): {e}{advice}"
                    ))
                })?;
                if meta.version != META_VERSION {
                    return Err(Error::DeviceError(format!(
                        "token store {dir}: metadata format {} is not supported (this tokenemu writes {META_VERSION})",
                        meta.version
                    )));
                }
                Some(meta)
            }
            None => None,
        };
        for (uid, bytes) in snap.objects {
            let h = record_hash(bytes);
            if let Some((handle, old)) = self.by_uid.get(uid) {
                if *old == h {
                    continue;
                }
                let obj = Object::from_record(*uid, bytes, self.master.as_ref()).map_err(|e| {
                    Error::DeviceError(format!("token store {dir}: object {uid:016x}: {e}{advice}"))
                })?;
                let handle = *handle;
                self.objects.insert(handle, Arc::new(obj));
                self.by_uid.insert(*uid, (handle, h));
            } else {
                let obj = Object::from_record(*uid, bytes, self.master.as_ref()).map_err(|e| {
                    Error::DeviceError(format!("token store {dir}: object {uid:016x}: {e}{advice}"))
                })?;
                let handle = self.next_handle();
                self.objects.insert(handle, Arc::new(obj));
                self.by_uid.insert(*uid, (handle, h));
            }
        }
        let gone: Vec<u64> = self
            .by_uid
            .keys()
            .filter(|u| !snap.objects.contains_key(u))
            .copied()
            .collect();
        for uid in gone {
            if let Some((handle, _)) = self.by_uid.remove(&uid) {
                self.objects.remove(handle);
            }
        }
        self.generation = snap.generation;
        Ok(())
    }

    /// Commits `changes`; if another process committed in between, reloads.
    fn commit(&mut self, changes: Vec<Change>) -> Result<()> {
        let before = self.generation;
        let after = self
            .store
            .commit(changes)
            .map_err(|e| self.store_error(e))?;
        if after != before + 1 {
            let store = self.store.clone();
            store
                .view(|v| self.apply(v))
                .map_err(|e| self.store_error(e))??;
        } else {
            self.generation = after;
        }
        Ok(())
    }

    fn commit_meta(&mut self, meta: TokenMeta) -> Result<()> {
        let bytes = serde_json::to_vec(&meta).map_err(|e| Error::General(e.to_string()))?;
        self.commit(vec![Change::PutMeta(bytes)])?;
        self.meta = Some(meta);
        Ok(())
    }

    // ---- PINs -------------------------------------------------------------

    fn check_new_pin_len(&self, pin: &[u8]) -> Result<()> {
        let n = pin.len() as CK_ULONG;
        if n < self.profile.pin.min_len || n > self.profile.pin.max_len {
            return Err(Error::PinLenRange);
        }
        Ok(())
    }

    /// Checks a PIN, counting failures in the store (in this process when
    /// the token is write-protected). A right PIN unlocks the master key, so
    /// secret attributes can be opened.
    pub fn verify_pin(&mut self, who: Who, pin: &[u8]) -> Result<()> {
        let mut meta = self.meta()?.clone();
        let write_protected = self.write_protected();
        if write_protected {
            meta.user_tries_left = self.tries_left(&meta, Who::User);
            meta.so_tries_left = self.tries_left(&meta, Who::So);
        }
        let (wrapped, tries, max, role) = match who {
            Who::User => (
                meta.user_key.clone(),
                &mut meta.user_tries_left,
                self.profile.pin.user_retries,
                "user",
            ),
            Who::So => (
                meta.so_key.clone(),
                &mut meta.so_tries_left,
                self.profile.pin.so_retries,
                "so",
            ),
        };
        let wrapped = wrapped.ok_or(Error::UserPinNotInitialized)?;
        if *tries == 0 {
            return Err(Error::PinLocked);
        }
        match wrapped.unwrap(pin, role)? {
            Some(mk) => {
                if *tries != max && !write_protected {
                    *tries = max;
                    self.commit_meta(meta)?;
                }
                // On a write-protected token the stored count stays as it
                // was: a right PIN forgives this process's failures only.
                match who {
                    Who::User => self.unsaved_failures.0 = 0,
                    Who::So => self.unsaved_failures.1 = 0,
                }
                self.unlock(mk);
                Ok(())
            }
            None => {
                *tries -= 1;
                let locked = *tries == 0;
                // The PIN itself is never logged, only who failed and what is left.
                tracing::info!(slot = self.slot_id, ?who, tries_left = *tries, "wrong PIN");
                if locked {
                    tracing::warn!(slot = self.slot_id, ?who, "PIN locked");
                }
                if write_protected {
                    tracing::warn!(
                        slot = self.slot_id,
                        ?who,
                        "the token is write-protected: this failure counts in this process only"
                    );
                    match who {
                        Who::User => self.unsaved_failures.0 += 1,
                        Who::So => self.unsaved_failures.1 += 1,
                    }
                } else {
                    self.commit_meta(meta)?;
                }
                Err(if locked {
                    Error::PinLocked
                } else {
                    Error::PinIncorrect
                })
            }
        }
    }

    /// Remembers the master key and opens every sealed attribute.
    fn unlock(&mut self, mk: MasterKey) {
        if self.master.is_none() {
            let slot = self.slot_id;
            self.objects.replace_all(|obj| {
                if !obj.has_sealed() {
                    return None;
                }
                obj.opened(&mk)
                    .map_err(|e| tracing::warn!(slot, error = %e, "cannot open a sealed attribute"))
                    .ok()
            });
        }
        self.master = Some(mk);
    }

    /// Logs out: forgets the master key and every opened secret.
    pub fn logout(&mut self) {
        self.login = Login::Public;
        if self.master.take().is_some() {
            self.objects
                .replace_all(|obj| obj.has_sealed().then(|| obj.closed()));
        }
    }

    fn master(&self) -> Result<&MasterKey> {
        self.master.as_ref().ok_or(Error::UserNotLoggedIn)
    }

    /// `C_InitToken` after the caller checked that no session is open.
    pub fn init_token(&mut self, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
        self.verify_pin(Who::So, so_pin).map_err(|e| match e {
            Error::UserPinNotInitialized => Error::PinIncorrect,
            e => e,
        })?;
        let mut meta = self.meta()?.clone();
        // A new token gets a new master key: nothing sealed before can be opened.
        let mk = MasterKey::generate()?;
        meta.so_key = Some(WrappedKey::wrap(&mk, so_pin, "so")?);
        meta.label = crate::util::unpadded(label);
        meta.user_key = None;
        meta.user_pin_to_be_changed = false;
        meta.user_tries_left = self.profile.pin.user_retries;
        meta.so_tries_left = self.profile.pin.so_retries;
        let bytes = serde_json::to_vec(&meta).map_err(|e| Error::General(e.to_string()))?;
        self.commit(vec![Change::DeleteAllObjects, Change::PutMeta(bytes)])?;
        self.meta = Some(meta);
        let token_handles: Vec<_> = self.by_uid.drain().map(|(_, (h, _))| h).collect();
        for h in token_handles {
            self.objects.remove(h);
        }
        self.logout();
        Ok(())
    }

    /// `C_InitPIN` (the caller checked the SO is logged in on a R/W session).
    pub fn init_user_pin(&mut self, pin: &[u8]) -> Result<()> {
        self.check_new_pin_len(pin)?;
        let mut meta = self.meta()?.clone();
        meta.user_key = Some(WrappedKey::wrap(self.master()?, pin, "user")?);
        meta.user_tries_left = self.profile.pin.user_retries;
        meta.user_pin_to_be_changed = false;
        self.commit_meta(meta)
    }

    /// `C_SetPIN` for `who`.
    pub fn set_pin(&mut self, who: Who, old: &[u8], new: &[u8]) -> Result<()> {
        self.verify_pin(who, old)?;
        self.check_new_pin_len(new)?;
        let mut meta = self.meta()?.clone();
        let mk = self.master()?;
        match who {
            Who::User => {
                meta.user_key = Some(WrappedKey::wrap(mk, new, "user")?);
                meta.user_pin_to_be_changed = false;
            }
            Who::So => {
                meta.so_key = Some(WrappedKey::wrap(mk, new, "so")?);
                meta.so_pin_to_be_changed = false;
            }
        }
        self.commit_meta(meta)
    }

    // ---- info -------------------------------------------------------------

    /// `CK_TOKEN_INFO.flags`.
    pub fn flags(&self) -> Result<CK_FLAGS> {
        let m = self.meta()?;
        let p = &self.profile.pin;
        let mut f =
            CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | self.profile.extra_token_flags();
        if self.write_protected() {
            f |= CKF_WRITE_PROTECTED;
        }
        if m.user_key.is_some() {
            f |= CKF_USER_PIN_INITIALIZED;
        }
        f |= pin_flags(
            self.tries_left(m, Who::User),
            p.user_retries,
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        );
        f |= pin_flags(
            self.tries_left(m, Who::So),
            p.so_retries,
            CKF_SO_PIN_COUNT_LOW,
            CKF_SO_PIN_FINAL_TRY,
            CKF_SO_PIN_LOCKED,
        );
        if m.user_pin_to_be_changed && m.user_key.is_some() {
            f |= CKF_USER_PIN_TO_BE_CHANGED;
        }
        if m.so_pin_to_be_changed {
            f |= CKF_SO_PIN_TO_BE_CHANGED;
        }
        Ok(f)
    }

    /// Bytes used by (public, private) token objects.
    pub fn memory_used(&self) -> (usize, usize) {
        self.objects.token_bytes()
    }

    // ---- objects ----------------------------------------------------------

    /// Whether the current login may see `o`.
    pub fn visible(&self, o: &Object) -> bool {
        !o.is_private() || self.login == Login::User
    }

    /// A visible object by handle.
    pub fn object(&self, handle: CK_OBJECT_HANDLE) -> Result<Arc<Object>> {
        match self.objects.get(handle) {
            Some(o) if self.visible(o) => Ok(o.clone()),
            _ => Err(Error::ObjectHandleInvalid(handle)),
        }
    }

    /// Every visible object matching `template`, in handle order (through
    /// the table's indexes: a search by label or id does not walk the token).
    pub fn find(&self, template: &[crate::object::attribute::Attribute]) -> Vec<CK_OBJECT_HANDLE> {
        self.objects.find(template, |o| self.visible(o))
    }

    /// Gives a new token object its uid and seals its secrets; returns the
    /// stored record.
    fn prepare_new(&self, obj: &mut Object) -> Result<Vec<u8>> {
        obj.uid = tokenemu_store::new_uid();
        if obj.has_secrets() {
            obj.seal_secrets(self.master()?)?;
        }
        obj.to_record()
    }

    /// Fails with `CKR_DEVICE_MEMORY` if `adding` more token objects, or
    /// `grow` more bytes of them, would exceed the profile's object count
    /// or memory ("memory full").
    fn check_capacity(&self, adding: usize, grow: usize) -> Result<()> {
        let t = &self.profile.token;
        if t.max_objects != 0 && self.by_uid.len().saturating_add(adding) > t.max_objects {
            tracing::info!(
                slot = self.slot_id,
                max = t.max_objects,
                "token full: object count"
            );
            return Err(Error::DeviceMemory);
        }
        let (public, private) = self.objects.token_bytes();
        let used = public.saturating_add(private);
        if t.memory != 0 && grow > 0 && used.saturating_add(grow) as u128 > u128::from(t.memory) {
            tracing::info!(
                slot = self.slot_id,
                used,
                grow,
                memory = t.memory,
                "token memory full"
            );
            return Err(Error::DeviceMemory);
        }
        Ok(())
    }

    /// Stores a new object; token objects go to the store first.
    pub fn insert(&mut self, obj: Object) -> Result<CK_OBJECT_HANDLE> {
        let (handle, _) = self.insert_all(vec![obj])?.remove(0);
        Ok(handle)
    }

    /// Stores two new objects at once (a key pair): both or neither.
    pub fn insert_pair(
        &mut self,
        a: Object,
        b: Object,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let v = self.insert_all(vec![a, b])?;
        Ok((v[0].0, v[1].0))
    }

    /// Stores new objects in one store commit: all or none.
    fn insert_all(&mut self, objs: Vec<Object>) -> Result<Vec<(CK_OBJECT_HANDLE, u64)>> {
        let mut changes = Vec::new();
        let mut ready = Vec::new();
        let (mut count, mut bytes) = (0usize, 0usize);
        for mut obj in objs {
            let handle = self.next_handle();
            let hash = if obj.session.is_none() {
                let data = self.prepare_new(&mut obj)?;
                let h = record_hash(&data);
                changes.push(Change::PutObject { uid: obj.uid, data });
                count += 1;
                bytes = bytes.saturating_add(obj.size());
                Some(h)
            } else {
                None
            };
            ready.push((handle, hash, obj));
        }
        self.check_capacity(count, bytes)?;
        self.commit(changes)?;
        Ok(ready
            .into_iter()
            .map(|(handle, hash, obj)| {
                if let Some(h) = hash {
                    // If the commit had to reload (another process committed
                    // in between), the reload already met this object and gave
                    // it a handle of its own: keep only ours.
                    if let Some((dup, _)) = self.by_uid.insert(obj.uid, (handle, h)) {
                        if dup != handle {
                            self.objects.remove(dup);
                        }
                    }
                }
                let uid = obj.uid;
                self.objects.insert(handle, Arc::new(obj));
                (handle, uid)
            })
            .collect())
    }

    /// Replaces an object's attributes (`C_SetAttributeValue`); secret values
    /// cannot change, so their sealed form carries over.
    pub fn replace(
        &mut self,
        handle: CK_OBJECT_HANDLE,
        attrs: crate::object::attribute::AttrMap,
    ) -> Result<()> {
        let old = self.object(handle)?;
        let obj = old.with_attrs(attrs);
        if obj.session.is_none() {
            self.check_capacity(0, obj.size().saturating_sub(old.size()))?;
            let rec = obj.to_record()?;
            self.commit(vec![Change::PutObject {
                uid: obj.uid,
                data: rec.clone(),
            }])?;
            self.by_uid.insert(obj.uid, (handle, record_hash(&rec)));
        }
        self.objects.insert(handle, Arc::new(obj));
        Ok(())
    }

    /// Deletes an object.
    pub fn remove(&mut self, handle: CK_OBJECT_HANDLE) -> Result<()> {
        let obj = self.object(handle)?;
        if obj.session.is_none() {
            self.commit(vec![Change::DeleteObject { uid: obj.uid }])?;
            self.by_uid.remove(&obj.uid);
        }
        self.objects.remove(handle);
        Ok(())
    }

    /// Drops the session objects of `session` (or of every session).
    pub fn drop_session_objects(&mut self, session: Option<CK_SESSION_HANDLE>) {
        self.objects.retain(|o| match (o.session, session) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(s), Some(t)) => s != t,
        });
    }
}

fn pin_flags(
    left: u32,
    max: u32,
    low: CK_FLAGS,
    final_try: CK_FLAGS,
    locked: CK_FLAGS,
) -> CK_FLAGS {
    match left {
        0 => locked | low,
        1 => final_try | low,
        l if l < max => low,
        _ => 0,
    }
}
