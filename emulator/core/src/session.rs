//! A session: its flags and its active operations, kept in one table keyed by
//! the operation's kind, each entry with the output kept back when a caller's
//! buffer was too small and the single-/multi-part stage the caller chose.

use crate::api::OpKind;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::mechanism::{CipherOp, DigestOp, SignOp, VerifyOp};

/// The running operation of one table entry.
pub enum Operation {
    /// `C_Digest*`.
    Digest(Box<dyn DigestOp>),
    /// `C_Sign*` (signatures and MACs).
    Sign(Box<dyn SignOp>),
    /// `C_Verify*`.
    Verify(Box<dyn VerifyOp>),
    /// `C_Encrypt*` / `C_Decrypt*`.
    Cipher(Box<dyn CipherOp>),
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Digest(_) => "Digest",
            Operation::Sign(_) => "Sign",
            Operation::Verify(_) => "Verify",
            Operation::Cipher(_) => "Cipher",
        })
    }
}

impl Operation {
    /// The output length a single-part call over `input` reports to a length
    /// query (an upper bound where the spec allows one).
    pub fn single_len(&self, input: &[u8]) -> Result<usize> {
        match self {
            Operation::Digest(op) => Ok(op.output_len()),
            Operation::Sign(op) => Ok(op.output_len()),
            Operation::Cipher(op) => op.single_len(input),
            Operation::Verify(_) => Ok(0),
        }
    }

    /// The exact output of an update with `input_len` bytes, before it runs
    /// (so a buffer that is too small can be refused without consuming input).
    pub fn update_len(&self, input_len: usize) -> usize {
        match self {
            Operation::Cipher(op) => op.update_len(input_len),
            _ => 0,
        }
    }

    /// The output length a final call reports to a length query.
    pub fn final_len(&self) -> Result<usize> {
        match self {
            Operation::Cipher(op) => op.final_len(),
            other => other.single_len(&[]),
        }
    }

    /// Feeds data; returns the output that is ready (ciphers only).
    pub fn update(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Operation::Digest(op) => op.update(data).map(|()| Vec::new()),
            Operation::Sign(op) => op.update(data).map(|()| Vec::new()),
            Operation::Verify(op) => op.update(data).map(|()| Vec::new()),
            Operation::Cipher(op) => op.update(data),
        }
    }

    /// Ends the operation and returns its output (verification has its own
    /// finish, which takes the signature).
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        match self {
            Operation::Digest(op) => op.finish(),
            Operation::Sign(op) => op.finish(),
            Operation::Cipher(op) => op.finish(),
            Operation::Verify(_) => Err(Error::OperationNotInitialized),
        }
    }

    /// A single-part call: the data, then the end.
    pub fn single(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Operation::Cipher(op) => op.single(data),
            other => {
                let mut out = other.update(data)?;
                out.extend(other.finish()?);
                Ok(out)
            }
        }
    }
}

/// Which calls an operation has seen: v3.0 §5.2 and each function's section
/// forbid mixing a single-part call with the multi-part ones of the same
/// operation (`C_Digest` after `C_DigestUpdate`, `C_DigestFinal` after a
/// `C_Digest` length query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Only the `*Init` so far.
    Started,
    /// A single-part call (a length query) was made.
    SinglePart,
    /// An update, final or `C_DigestKey` was made.
    MultiPart,
}

/// An active operation and what it already produced.
pub struct Active {
    /// The operation.
    pub op: Operation,
    /// Output computed for a buffer that was too small, returned next call.
    pub pending: Option<Vec<u8>>,
    /// The key needs `C_Login(CKU_CONTEXT_SPECIFIC)` before use (`CKA_ALWAYS_AUTHENTICATE`).
    pub needs_context_login: bool,
    /// Single- or multi-part, once the caller has chosen.
    pub stage: Stage,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("pending", &self.pending.as_ref().map(Vec::len))
            .field("needs_context_login", &self.needs_context_login)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl Active {
    /// Wraps a fresh operation.
    pub fn new(op: Operation, needs_context_login: bool) -> Self {
        Active {
            op,
            pending: None,
            needs_context_login,
            stage: Stage::Started,
        }
    }

    /// Records a call of `stage`; mixing single- and multi-part calls is
    /// `CKR_OPERATION_ACTIVE` (the caller then ends the operation).
    pub fn enter(&mut self, stage: Stage) -> Result<()> {
        match (self.stage, stage) {
            (Stage::SinglePart, Stage::MultiPart) | (Stage::MultiPart, Stage::SinglePart) => {
                Err(Error::OperationActive)
            }
            _ => {
                self.stage = stage;
                Ok(())
            }
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

/// The table's entries. A session signs one way at a time, so `C_SignRecover`
/// shares the signing entry and `C_VerifyRecover` the verifying one.
const ENTRIES: usize = 5;

fn entry(kind: OpKind) -> usize {
    match kind {
        OpKind::Encrypt => 0,
        OpKind::Decrypt => 1,
        OpKind::Digest => 2,
        OpKind::Sign | OpKind::SignRecover => 3,
        OpKind::Verify | OpKind::VerifyRecover => 4,
    }
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
    /// The active operations, one per entry (see [`entry`]).
    ops: [Option<Active>; ENTRIES],
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
            ops: Default::default(),
        }
    }

    /// The active operation of `kind`, if any.
    pub fn op(&self, kind: OpKind) -> Option<&Active> {
        self.ops[entry(kind)].as_ref()
    }

    /// The table entry of `kind`, to start, run or end its operation.
    pub fn op_entry(&mut self, kind: OpKind) -> &mut Option<Active> {
        &mut self.ops[entry(kind)]
    }

    /// Ends the operation of `kind`, if one is active.
    pub fn end(&mut self, kind: OpKind) {
        self.ops[entry(kind)] = None;
    }

    /// Whether an operation of `kind` is active.
    pub fn is_active(&self, kind: OpKind) -> bool {
        self.op(kind).is_some()
    }

    /// Whether an active operation waits for `C_Login(CKU_CONTEXT_SPECIFIC)`.
    pub fn needs_context_login(&self) -> bool {
        self.ops.iter().flatten().any(|a| a.needs_context_login)
    }

    /// Ends every operation (logout, token removal).
    pub fn end_all(&mut self) {
        self.find = None;
        self.ops = Default::default();
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
