//! Session management (v3.0 §5.6): opening and closing sessions, session
//! information, login and logout.

use super::*;

impl ModuleState {
    pub(crate) fn open_session(
        &self,
        id: CK_SLOT_ID,
        flags: CK_FLAGS,
    ) -> Result<CK_SESSION_HANDLE> {
        let i = self.slot_index(id)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::SessionParallelNotSupported);
        }
        let rw = flags & CKF_RW_SESSION != 0;
        let mut t = self.token(i)?;
        if rw && t.write_protected() {
            return Err(Error::TokenWriteProtected);
        }
        if !rw && t.login == Login::So {
            return Err(Error::SessionReadWriteSoExists);
        }
        let p = &t.profile.token;
        if p.max_sessions != 0 && t.sessions.len() as CK_ULONG >= p.max_sessions {
            return Err(Error::SessionCount);
        }
        let rw_count = t.sessions.values().filter(|r| **r).count() as CK_ULONG;
        if rw && p.max_rw_sessions != 0 && rw_count >= p.max_rw_sessions {
            return Err(Error::SessionCount);
        }
        let h = self.handles.fetch_add(1, Ordering::Relaxed);
        t.sessions.insert(h, rw);
        let cell = Arc::new(SessionCell {
            slot: i,
            state: Mutex::new(Session::new(h, id, rw)),
        });
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(h, cell);
        Ok(h)
    }

    fn forget_session(&self, t: &mut Token, h: CK_SESSION_HANDLE) {
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&h);
        t.sessions.remove(&h);
        t.drop_session_objects(Some(h));
        if t.sessions.is_empty() {
            // The spec logs the application out when its last session closes.
            t.logout();
        }
    }

    pub(crate) fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let cell = self.cell(h)?;
        let mut t = self.slots[cell.slot].token()?;
        self.forget_session(&mut t, h);
        Ok(())
    }

    pub(crate) fn close_all_sessions(&self, id: CK_SLOT_ID) -> Result<()> {
        let i = self.slot_index(id)?;
        let mut t = self.slots[i].token()?;
        let mine: Vec<_> = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, c)| c.slot == i)
            .map(|(h, _)| *h)
            .collect();
        for h in mine {
            self.forget_session(&mut t, h);
        }
        t.logout();
        Ok(())
    }

    pub(crate) fn session_info(&self, h: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO> {
        self.with_token(h, |t, s| {
            let state = match (t.login, s.rw) {
                (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
                (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
                (Login::User, false) => CKS_RO_USER_FUNCTIONS,
                (Login::User, true) => CKS_RW_USER_FUNCTIONS,
                (Login::So, _) => CKS_RW_SO_FUNCTIONS,
            };
            let mut flags = CKF_SERIAL_SESSION;
            if s.rw {
                flags |= CKF_RW_SESSION;
            }
            Ok(CK_SESSION_INFO {
                slotID: s.slot_id,
                state,
                flags,
                ulDeviceError: 0,
            })
        })
    }

    pub(crate) fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        self.with_token(h, |t, s| match user {
            CKU_SO => {
                match t.login {
                    Login::So => return Err(Error::UserAlreadyLoggedIn),
                    Login::User => return Err(Error::UserAnotherAlreadyLoggedIn),
                    Login::Public => {}
                }
                if t.sessions.values().any(|rw| !rw) {
                    return Err(Error::SessionReadOnlyExists);
                }
                t.verify_pin(Who::So, pin)?;
                t.login = Login::So;
                Ok(())
            }
            CKU_USER => {
                match t.login {
                    Login::User => return Err(Error::UserAlreadyLoggedIn),
                    Login::So => return Err(Error::UserAnotherAlreadyLoggedIn),
                    Login::Public => {}
                }
                t.verify_pin(Who::User, pin)?;
                t.login = Login::User;
                Ok(())
            }
            CKU_CONTEXT_SPECIFIC => {
                if t.login != Login::User {
                    return Err(Error::UserNotLoggedIn);
                }
                if !s.needs_context_login() {
                    return Err(Error::OperationNotInitialized);
                }
                t.verify_pin(Who::User, pin)?;
                s.context_login = true;
                Ok(())
            }
            other => Err(Error::UserTypeInvalid(other)),
        })
    }

    pub(crate) fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, _| {
            if t.login == Login::Public {
                return Err(Error::UserNotLoggedIn);
            }
            t.logout();
            Ok(())
        })?;
        // Operations that used private keys end with the login.
        let table = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for cell in table.values().filter(|c| c.slot == slot) {
            lock(&cell.state).end_all();
        }
        Ok(())
    }
}
