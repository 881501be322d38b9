//! A session: its flags and the operations active in it, one slot per kind,
//! each with the output kept back when a caller's buffer was too small.

use crate::api::OpKind;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::mechanism::{CipherOp, DigestOp, SignOp, VerifyOp};

/// An active operation and what it already produced.
pub struct Active<T: ?Sized> {
    /// The operation.
    pub op: Box<T>,
    /// Output computed for a buffer that was too small, returned next call.
    pub pending: Option<Vec<u8>>,
    /// The key needs `C_Login(CKU_CONTEXT_SPECIFIC)` before use (`CKA_ALWAYS_AUTHENTICATE`).
    pub needs_context_login: bool,
}

impl<T: ?Sized> std::fmt::Debug for Active<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("pending", &self.pending.as_ref().map(Vec::len))
            .field("needs_context_login", &self.needs_context_login)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> Active<T> {
    /// Wraps a fresh operation.
    pub fn new(op: Box<T>, needs_context_login: bool) -> Self {
        Active {
            op,
            pending: None,
            needs_context_login,
        }
    }
}

/// A `C_FindObjects` cursor.
#[derive(Debug, Default)]
pub struct FindState {
    /// Matches, resolved at `C_FindObjectsInit`.
    pub results: Vec<CK_OBJECT_HANDLE>,
    /// How many were returned.
    pub pos: usize,
}

/// One session.
pub struct Session {
    /// Its handle.
    pub handle: CK_SESSION_HANDLE,
    /// Its slot.
    pub slot_id: CK_SLOT_ID,
    /// Opened read-write.
    pub rw: bool,
    /// The token was pulled while it was open: every call answers `CKR_DEVICE_REMOVED`.
    pub removed: bool,
    /// `C_Login(CKU_CONTEXT_SPECIFIC)` happened for the current operation.
    pub context_login: bool,
    /// The find cursor.
    pub find: Option<FindState>,
    /// Active digest.
    pub digest: Option<Active<dyn DigestOp>>,
    /// Active signature.
    pub sign: Option<Active<dyn SignOp>>,
    /// Active verification.
    pub verify: Option<Active<dyn VerifyOp>>,
    /// Active encryption.
    pub encrypt: Option<Active<dyn CipherOp>>,
    /// Active decryption.
    pub decrypt: Option<Active<dyn CipherOp>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handle", &self.handle)
            .field("slot_id", &self.slot_id)
            .field("rw", &self.rw)
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session.
    pub fn new(handle: CK_SESSION_HANDLE, slot_id: CK_SLOT_ID, rw: bool) -> Self {
        Session {
            handle,
            slot_id,
            rw,
            removed: false,
            context_login: false,
            find: None,
            digest: None,
            sign: None,
            verify: None,
            encrypt: None,
            decrypt: None,
        }
    }

    /// Whether an operation of `kind` is active.
    pub fn is_active(&self, kind: OpKind) -> bool {
        match kind {
            OpKind::Digest => self.digest.is_some(),
            OpKind::Sign | OpKind::SignRecover => self.sign.is_some(),
            OpKind::Verify | OpKind::VerifyRecover => self.verify.is_some(),
            OpKind::Encrypt => self.encrypt.is_some(),
            OpKind::Decrypt => self.decrypt.is_some(),
        }
    }

    /// Ends every operation (logout, token removal).
    pub fn end_all(&mut self) {
        self.find = None;
        self.digest = None;
        self.sign = None;
        self.verify = None;
        self.encrypt = None;
        self.decrypt = None;
        self.context_login = false;
    }

    /// Fails with `CKR_OPERATION_ACTIVE` if `kind` is active.
    pub fn ensure_idle(&self, kind: OpKind) -> Result<()> {
        if self.is_active(kind) {
            return Err(Error::OperationActive);
        }
        Ok(())
    }
}
