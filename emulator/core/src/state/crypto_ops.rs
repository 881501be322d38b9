//! Encryption, decryption, message digesting, signing and verifying (v3.0
//! §5.8–§5.13): starting an operation with a mechanism and key, and running it
//! under the spec's size protocol and single-/multi-part rules.

use super::*;

impl ModuleState {
    pub(crate) fn op_init(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        m: Mechanism,
        key: Option<CK_OBJECT_HANDLE>,
    ) -> Result<()> {
        let slot = self.cell(h)?.slot;
        // Uses an existing key by handle: a store state up to
        // HOT_PATH_STALENESS old will do.
        self.with_token_within(h, HOT_PATH_STALENESS, |t, s| {
            s.ensure_idle(kind)?;
            let (flag, usage_needs_key) = match kind {
                OpKind::Digest => (CKF_DIGEST, false),
                OpKind::Sign => (CKF_SIGN, true),
                OpKind::Verify => (CKF_VERIFY, true),
                OpKind::Encrypt => (CKF_ENCRYPT, true),
                OpKind::Decrypt => (CKF_DECRYPT, true),
                OpKind::SignRecover => (CKF_SIGN_RECOVER, true),
                OpKind::VerifyRecover => (CKF_VERIFY_RECOVER, true),
            };
            let info = self.mech_for(slot, m.mech, flag)?;
            let imp = registry().get(m.mech)?;
            let key = match (usage_needs_key, key) {
                (true, Some(k)) => Some(t.object(k).map_err(|_| Error::KeyHandleInvalid(k))?),
                (true, None) => return Err(Error::ArgumentsBad("a key is required")),
                (false, _) => None,
            };
            let op = match kind {
                OpKind::Digest => Operation::Digest(imp.digest(&m)?),
                OpKind::Sign => Operation::Sign(imp.sign(&m, key_ref(&key)?)?),
                OpKind::Verify => Operation::Verify(imp.verify(&m, key_ref(&key)?)?),
                OpKind::Encrypt => Operation::Cipher(imp.encrypt(&m, key_ref(&key)?)?),
                OpKind::Decrypt => Operation::Cipher(imp.decrypt(&m, key_ref(&key)?)?),
                OpKind::SignRecover | OpKind::VerifyRecover => {
                    return Err(Error::MechanismInvalid(m.mech))
                }
            };
            // Checked once the mechanism accepted the key, so a wrong kind of key
            // reports CKR_KEY_TYPE_INCONSISTENT rather than a size error.
            if let Some(k) = &key {
                check_key_size(imp, &m, k, &info)?;
            }
            // Private-key operations may need the PIN again (CKA_ALWAYS_AUTHENTICATE).
            let ctx = matches!(kind, OpKind::Sign | OpKind::Decrypt)
                && key
                    .as_ref()
                    .is_some_and(|k| k.flag(CKA_ALWAYS_AUTHENTICATE));
            *s.op_entry(kind) = Some(Active::new(op, ctx));
            s.context_login = false;
            Ok(())
        })
    }

    /// `C_Encrypt`, `C_Decrypt`, `C_Digest`, `C_Sign`.
    pub(crate) fn op_single(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: OutSpec,
    ) -> Result<Output> {
        self.with_session(h, |s| {
            if matches!(
                kind,
                OpKind::Verify | OpKind::SignRecover | OpKind::VerifyRecover
            ) {
                return Err(Error::OperationNotInitialized);
            }
            if matches!(kind, OpKind::Sign | OpKind::Decrypt) {
                check_context(s.op(kind), s.context_login)?;
            }
            run_to_end(s.op_entry(kind), out, Stage::SinglePart, input)
        })
    }

    /// `C_EncryptUpdate`, `C_DecryptUpdate`, `C_DigestUpdate`, `C_SignUpdate`,
    /// `C_VerifyUpdate`.
    pub(crate) fn op_update(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: OutSpec,
    ) -> Result<Output> {
        self.with_session(h, |s| {
            if matches!(kind, OpKind::SignRecover | OpKind::VerifyRecover) {
                return Err(Error::OperationNotInitialized);
            }
            run_update(s.op_entry(kind), out, input)
        })
    }

    /// `C_EncryptFinal`, `C_DecryptFinal`, `C_DigestFinal`, `C_SignFinal`.
    pub(crate) fn op_final(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        out: OutSpec,
    ) -> Result<Output> {
        self.with_session(h, |s| {
            if !matches!(
                kind,
                OpKind::Digest | OpKind::Sign | OpKind::Encrypt | OpKind::Decrypt
            ) {
                return Err(Error::OperationNotInitialized);
            }
            if kind == OpKind::Sign {
                check_context(s.op(kind), s.context_login)?;
            }
            run_to_end(s.op_entry(kind), out, Stage::MultiPart, &[])
        })
    }

    pub(crate) fn verify(&self, h: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            finish_verify(
                s.op_entry(OpKind::Verify),
                Stage::SinglePart,
                data,
                signature,
            )
        })
    }

    pub(crate) fn verify_final(&self, h: CK_SESSION_HANDLE, signature: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            finish_verify(s.op_entry(OpKind::Verify), Stage::MultiPart, &[], signature)
        })
    }

    pub(crate) fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        self.with_token(h, |t, s| {
            let entry = s.op_entry(OpKind::Digest);
            let a = entry.as_mut().ok_or(Error::OperationNotInitialized)?;
            let r = t
                .object(key)
                .map_err(|_| Error::KeyHandleInvalid(key))
                .and_then(|k| {
                    if k.class() != CKO_SECRET_KEY {
                        return Err(Error::KeyIndigestible);
                    }
                    let v = k.attrs.get_bytes(CKA_VALUE).ok_or(Error::KeyIndigestible)?;
                    a.enter(Stage::MultiPart)?;
                    a.op.update(v).map(drop)
                });
            if r.is_err() {
                *entry = None;
            }
            r
        })
    }
}

fn check_context(a: Option<&Active>, context_login: bool) -> Result<()> {
    match a {
        Some(a) if a.needs_context_login && !context_login => Err(Error::UserNotLoggedIn),
        _ => Ok(()),
    }
}

/// The spec's size protocol for calls that finish an operation (the
/// single-part call, or `*Final` after updates): a length query or a
/// too-small buffer keeps it (and any computed output) alive; anything else
/// ends it. Mixing single- and multi-part calls ends it with
/// `CKR_OPERATION_ACTIVE`.
fn run_to_end(
    entry: &mut Option<Active>,
    out: OutSpec,
    stage: Stage,
    input: &[u8],
) -> Result<Output> {
    let a = entry.as_mut().ok_or(Error::OperationNotInitialized)?;
    if let Err(e) = a.enter(stage) {
        *entry = None;
        return Err(e);
    }
    let cap = match (out, &a.pending) {
        (OutSpec::Query, Some(p)) => return Ok(Output::Len(p.len())),
        (OutSpec::Query, None) => {
            let n = if stage == Stage::SinglePart {
                a.op.single_len(input)
            } else {
                a.op.final_len()
            };
            // A query that already shows the input is wrong ends the operation.
            return n.map(Output::Len).inspect_err(|_| *entry = None);
        }
        (OutSpec::Capacity(c), _) => c,
    };
    let result = match a.pending.take() {
        Some(p) => Ok(p),
        None if stage == Stage::SinglePart => a.op.single(input),
        None => a.op.finish(),
    };
    match result {
        Ok(v) if v.len() > cap => {
            let n = v.len();
            a.pending = Some(v);
            Err(Error::BufferTooSmall(n))
        }
        Ok(v) => {
            *entry = None;
            Ok(Output::Data(v))
        }
        Err(e) => {
            *entry = None;
            Err(e)
        }
    }
}

/// An update: a cipher's output length is known exactly before it runs, so a
/// length query or a too-small buffer consumes no input and keeps the
/// operation; an error ends it.
fn run_update(entry: &mut Option<Active>, out: OutSpec, input: &[u8]) -> Result<Output> {
    let a = entry.as_mut().ok_or(Error::OperationNotInitialized)?;
    if let Err(e) = a.enter(Stage::MultiPart) {
        *entry = None;
        return Err(e);
    }
    let n = a.op.update_len(input.len());
    match out {
        OutSpec::Query => return Ok(Output::Len(n)),
        OutSpec::Capacity(c) if c < n => return Err(Error::BufferTooSmall(n)),
        OutSpec::Capacity(_) => {}
    }
    match a.op.update(input) {
        Ok(v) => Ok(Output::Data(v)),
        Err(e) => {
            *entry = None;
            Err(e)
        }
    }
}

/// `C_Verify` (with the data) or `C_VerifyFinal`: always ends the operation.
fn finish_verify(
    entry: &mut Option<Active>,
    stage: Stage,
    data: &[u8],
    signature: &[u8],
) -> Result<()> {
    let mut a = entry.take().ok_or(Error::OperationNotInitialized)?;
    a.enter(stage)?;
    let Operation::Verify(op) = &mut a.op else {
        return Err(Error::OperationNotInitialized);
    };
    if stage == Stage::SinglePart {
        op.update(data)?;
    }
    op.finish(signature)
}

fn key_ref(key: &Option<Arc<Object>>) -> Result<&Object> {
    key.as_deref()
        .ok_or(Error::ArgumentsBad("a key is required"))
}
