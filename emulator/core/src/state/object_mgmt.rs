//! Object management (v3.0 §5.7): creating, copying, destroying, reading and
//! changing objects, and searches.

use super::*;

impl ModuleState {
    /// Checks that the session may create or change an object with these flags.
    /// Checks that the session may create an object with these attributes.
    pub(super) fn check_write(t: &Token, s: &Session, attrs: &AttrMap) -> Result<()> {
        if attrs.get_bool(CKA_TOKEN) == Some(true) && !s.rw {
            return Err(t.read_only_session_error());
        }
        if attrs.get_bool(CKA_PRIVATE) == Some(true) && t.login != Login::User {
            return Err(Error::UserNotLoggedIn);
        }
        Ok(())
    }

    /// v3.0 §4.x (tables of certificate, public and secret key attributes):
    /// `CKA_TRUSTED` "can only be set to CK_TRUE by the SO user". The spec
    /// names no return value; SoftHSM and kryoptic answer
    /// `CKR_ATTRIBUTE_READ_ONLY`, as here.
    pub(super) fn check_trusted(t: &Token, attrs: &AttrMap) -> Result<()> {
        if attrs.get_bool(CKA_TRUSTED) == Some(true) && t.login != Login::So {
            return Err(Error::AttributeReadOnly(CKA_TRUSTED));
        }
        Ok(())
    }

    /// A new object owned by session `h` unless it is a token object.
    pub(super) fn new_object(h: CK_SESSION_HANDLE, attrs: AttrMap) -> Object {
        let session = (attrs.get_bool(CKA_TOKEN) != Some(true)).then_some(h);
        Object::new(0, session, attrs)
    }

    pub(crate) fn create_object(
        &self,
        h: CK_SESSION_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.with_token(h, |t, s| {
            let mut attrs = build_attrs(&template, Origin::Create)?;
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            crate::mechanism::keys::complete_import(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn copy_object(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.with_token(h, |t, s| {
            let src = t.object(o)?;
            let attrs = src.copy_with(&template)?;
            Self::check_write(t, s, &attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn destroy_object(&self, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> Result<()> {
        self.with_token(h, |t, s| {
            let obj = t.object(o)?;
            if obj.is_token() && !s.rw {
                return Err(t.read_only_session_error());
            }
            if !obj.attrs.get_bool(CKA_DESTROYABLE).unwrap_or(true) {
                return Err(Error::ActionProhibited);
            }
            t.remove(o)
        })
    }

    pub(crate) fn object_size(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
    ) -> Result<CK_ULONG> {
        self.with_token(h, |t, _| Ok(t.object(o)?.size() as CK_ULONG))
    }

    pub(crate) fn get_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrLookup>> {
        self.with_token(h, |t, _| Ok(t.object(o)?.lookup(types)))
    }

    pub(crate) fn set_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<()> {
        self.with_token(h, |t, s| {
            let obj = t.object(o)?;
            if obj.is_token() && !s.rw {
                return Err(t.read_only_session_error());
            }
            let attrs = obj.with_changes(&template).map_err(|e| match e {
                Error::ActionProhibited => {
                    Error::AttributeReadOnly(template.first().map_or(CKA_MODIFIABLE, |a| a.ty))
                }
                e => e,
            })?;
            t.replace(o, attrs)
        })
    }

    pub(crate) fn find_init(&self, h: CK_SESSION_HANDLE, template: Template) -> Result<()> {
        self.with_token(h, |t, s| {
            if s.find.is_some() {
                return Err(Error::OperationActive);
            }
            for a in &template {
                if a.ty != CKA_UNIQUE_ID {
                    a.validate().map_err(|_| {
                        Error::AttributeValueInvalid(a.ty, "wrong length for its type")
                    })?;
                }
            }
            s.find = Some(FindState {
                results: t.find(&template),
                pos: 0,
            });
            Ok(())
        })
    }

    pub(crate) fn find_next(
        &self,
        h: CK_SESSION_HANDLE,
        max: usize,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.with_session(h, |s| {
            let f = s.find.as_mut().ok_or(Error::OperationNotInitialized)?;
            let end = f.results.len().min(f.pos.saturating_add(max));
            let out = f.results[f.pos..end].to_vec();
            f.pos = end;
            Ok(out)
        })
    }

    pub(crate) fn find_final(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |s| {
            s.find
                .take()
                .map(|_| ())
                .ok_or(Error::OperationNotInitialized)
        })
    }
}
