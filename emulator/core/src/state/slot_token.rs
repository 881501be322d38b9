//! Slot and token management (v3.0 §5.5): slot and token information,
//! mechanisms, `C_WaitForSlotEvent`, `C_InitToken`, `C_InitPIN`, `C_SetPIN`.

use super::*;

impl ModuleState {
    pub(crate) fn slot_list(&self, token_present: bool) -> Vec<CK_SLOT_ID> {
        (0..self.slots.len())
            .filter(|&i| !token_present || self.present(i))
            .map(|i| self.slots[i].config.id)
            .collect()
    }

    pub(crate) fn slot_info(&self, id: CK_SLOT_ID) -> Result<CK_SLOT_INFO> {
        let i = self.slot_index(id)?;
        let slot = &self.slots[i];
        let p = &slot.config.profile.slot;
        let mut flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
        if self.present(i) {
            flags |= CKF_TOKEN_PRESENT;
        }
        let desc = slot.config.description.as_deref().unwrap_or(&p.description);
        Ok(CK_SLOT_INFO {
            slotDescription: padded(desc),
            manufacturerID: padded(&p.manufacturer),
            flags,
            hardwareVersion: parse_version(&p.hardware_version).map_err(Error::Config)?,
            firmwareVersion: parse_version(&p.firmware_version).map_err(Error::Config)?,
        })
    }

    pub(crate) fn token_info(&self, id: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
        let i = self.slot_index(id)?;
        let t = self.token(i)?;
        let p = &t.profile.token;
        let meta = t.meta()?;
        let (used_pub, used_priv) = t.memory_used();
        let rw = t.sessions.values().filter(|rw| **rw).count();
        let limit = |v: CK_ULONG| if v == 0 { CK_EFFECTIVELY_INFINITE } else { v };
        // Public and private objects share the chip's memory.
        let used = (used_pub as CK_ULONG).saturating_add(used_priv as CK_ULONG);
        let free = |total: CK_ULONG| {
            if total == CK_UNAVAILABLE_INFORMATION {
                CK_UNAVAILABLE_INFORMATION
            } else {
                total.saturating_sub(used)
            }
        };
        Ok(CK_TOKEN_INFO {
            label: padded(&meta.label),
            manufacturerID: padded(&p.manufacturer),
            model: padded(&p.model),
            serialNumber: padded(&meta.serial),
            flags: t.flags()?,
            ulMaxSessionCount: limit(p.max_sessions),
            ulSessionCount: t.sessions.len() as CK_ULONG,
            ulMaxRwSessionCount: limit(p.max_rw_sessions),
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: t.profile.pin.max_len,
            ulMinPinLen: t.profile.pin.min_len,
            ulTotalPublicMemory: p.total_public_memory,
            ulFreePublicMemory: free(p.total_public_memory),
            ulTotalPrivateMemory: p.total_private_memory,
            ulFreePrivateMemory: free(p.total_private_memory),
            hardwareVersion: parse_version(&p.hardware_version).map_err(Error::Config)?,
            firmwareVersion: parse_version(&p.firmware_version).map_err(Error::Config)?,
            utcTime: [b' '; 16],
        })
    }

    pub(crate) fn wait_for_slot_event(
        &self,
        block: bool,
        cancel: &AtomicBool,
    ) -> Result<CK_SLOT_ID> {
        loop {
            for (i, slot) in self.slots.iter().enumerate() {
                let now = self.present(i);
                if slot.reported_present.swap(now, Ordering::SeqCst) != now {
                    return Ok(slot.config.id);
                }
            }
            if !block {
                return Err(Error::NoEvent);
            }
            if cancel.load(Ordering::SeqCst) {
                return Err(Error::NotInitialized);
            }
            std::thread::sleep(EVENT_POLL);
        }
    }

    fn profile_mechs(&self, slot: usize) -> &[(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)] {
        &self.slots[slot].mechs
    }

    pub(crate) fn mechanism_list(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        let i = self.slot_index(id)?;
        if !self.present(i) {
            return Err(Error::TokenNotPresent(id));
        }
        Ok(self.profile_mechs(i).iter().map(|(m, _)| *m).collect())
    }

    pub(crate) fn mechanism_info(
        &self,
        id: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<CK_MECHANISM_INFO> {
        let i = self.slot_index(id)?;
        if !self.present(i) {
            return Err(Error::TokenNotPresent(id));
        }
        self.profile_mechs(i)
            .iter()
            .find(|(m, _)| *m == mech)
            .map(|(_, info)| *info)
            .ok_or(Error::MechanismInvalid(mech))
    }

    /// The token's info for `mech` if it lists it with `flag`.
    pub(super) fn mech_for(
        &self,
        slot: usize,
        mech: CK_MECHANISM_TYPE,
        flag: CK_FLAGS,
    ) -> Result<CK_MECHANISM_INFO> {
        let info = self
            .profile_mechs(slot)
            .iter()
            .find(|(m, _)| *m == mech)
            .map(|(_, info)| *info)
            .ok_or(Error::MechanismInvalid(mech))?;
        if info.flags & flag == 0 {
            return Err(Error::MechanismInvalid(mech));
        }
        Ok(info)
    }

    pub(crate) fn init_token(&self, id: CK_SLOT_ID, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
        let i = self.slot_index(id)?;
        let mut t = self.token(i)?;
        if t.write_protected() {
            return Err(Error::TokenWriteProtected);
        }
        if !t.sessions.is_empty() {
            return Err(Error::SessionExists);
        }
        t.drop_session_objects(None);
        t.init_token(so_pin, label)
    }

    pub(crate) fn init_pin(&self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        self.with_token(h, |t, s| {
            if t.login != Login::So {
                return Err(Error::UserNotLoggedIn);
            }
            if !s.rw {
                return Err(t.read_only_session_error());
            }
            t.init_user_pin(pin)
        })
    }

    pub(crate) fn set_pin(&self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        self.with_token(h, |t, s| {
            if !s.rw {
                return Err(t.read_only_session_error());
            }
            let who = if t.login == Login::So {
                Who::So
            } else {
                Who::User
            };
            t.set_pin(who, old, new)
        })
    }
}
