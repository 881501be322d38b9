//! `Module`: one initialised instance of the emulator (what `C_Initialize`
//! creates and `C_Finalize` drops). Every method is safe to call from many
//! threads at once; the C boundary keeps one `Arc<Module>`.
//!
//! Methods mirror the PKCS#11 functions, grouped by spec chapter, but take and
//! return owned Rust values; the boundary does pointers, lengths and buffers.

use std::sync::Arc;

use serde_json::json;

use crate::api::{AttrLookup, OpKind, OutSpec, Output};
use crate::ck::*;
use crate::config::Config;
use crate::error::Result;
use crate::hooks::{op_name, out_json, secret, template_json, Phase, Target};
use crate::mechanism::params::Mechanism;
use crate::names::{attribute_name, mechanism_name};
use crate::object::attribute::Template;

/// An initialised emulator.
#[derive(Debug)]
pub struct Module {
    pub(crate) inner: crate::state::ModuleState,
}

impl Module {
    /// Trace arguments, built only when a trace is being written.
    fn args(&self, f: impl FnOnce() -> serde_json::Value) -> Option<serde_json::Value> {
        crate::hooks::tracing().then(f)
    }

    /// Runs one PKCS#11 call with the injected faults, the latency model and
    /// the trace around it (see `hooks`).
    fn call<R>(
        &self,
        function: &'static str,
        target: Target,
        args: Option<serde_json::Value>,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        self.inner.hooked(function, target, args, f)
    }

    /// Builds the slots and tokens the configuration describes (tokens are
    /// created in their stores on first use).
    pub fn new(config: Config) -> Result<Arc<Module>> {
        Ok(Arc::new(Module {
            inner: crate::state::ModuleState::new(config)?,
        }))
    }

    // ---- §5.4 general purpose -------------------------------------------------

    /// `C_GetInfo` for the given interface version.
    pub fn info(&self, version: CK_VERSION) -> CK_INFO {
        crate::api::library_info(version)
    }

    // ---- §5.5 slot and token management --------------------------------------

    /// `C_GetSlotList`.
    pub fn slot_list(&self, token_present: bool) -> Vec<CK_SLOT_ID> {
        self.inner.slot_list(token_present)
    }
    /// `C_GetSlotInfo`.
    pub fn slot_info(&self, slot: CK_SLOT_ID) -> Result<CK_SLOT_INFO> {
        self.call(
            "C_GetSlotInfo",
            Target::Slot(slot),
            self.args(|| json!({"slot": slot})),
            || self.inner.slot_info(slot),
        )
    }
    /// `C_GetTokenInfo`.
    pub fn token_info(&self, slot: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
        self.call(
            "C_GetTokenInfo",
            Target::Slot(slot),
            self.args(|| json!({"slot": slot})),
            || self.inner.token_info(slot),
        )
    }
    /// `C_WaitForSlotEvent`; `block` is false with `CKF_DONT_BLOCK`. A blocking
    /// wait returns `Error::NotInitialized` if `cancel` becomes true (finalize).
    pub fn wait_for_slot_event(
        &self,
        block: bool,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<CK_SLOT_ID> {
        self.inner.wait_for_slot_event(block, cancel)
    }
    /// `C_GetMechanismList`.
    pub fn mechanism_list(&self, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        self.call(
            "C_GetMechanismList",
            Target::Slot(slot),
            self.args(|| json!({"slot": slot})),
            || self.inner.mechanism_list(slot),
        )
    }
    /// `C_GetMechanismInfo`.
    pub fn mechanism_info(
        &self,
        slot: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<CK_MECHANISM_INFO> {
        self.call(
            "C_GetMechanismInfo",
            Target::Slot(slot),
            self.args(|| json!({"slot": slot, "mechanism": mechanism_name(mech)})),
            || self.inner.mechanism_info(slot, mech),
        )
    }
    /// `C_InitToken`: `label` is the 32-byte blank-padded field.
    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
        self.call("C_InitToken", Target::Slot(slot), self.args(|| json!({"slot": slot, "pin": secret(so_pin), "label": crate::util::unpadded(label)})), || self.inner.init_token(slot, so_pin, label))
    }
    /// `C_InitPIN`.
    pub fn init_pin(&self, session: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        self.call(
            "C_InitPIN",
            Target::Session(session),
            self.args(|| json!({"session": session, "pin": secret(pin)})),
            || self.inner.init_pin(session, pin),
        )
    }
    /// `C_SetPIN`.
    pub fn set_pin(&self, session: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        self.call(
            "C_SetPIN",
            Target::Session(session),
            self.args(
                || json!({"session": session, "old_pin": secret(old), "new_pin": secret(new)}),
            ),
            || self.inner.set_pin(session, old, new),
        )
    }

    // ---- §5.6 session management ---------------------------------------------

    /// `C_OpenSession` (notification callbacks are not used by this token).
    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        self.call(
            "C_OpenSession",
            Target::Slot(slot),
            self.args(|| json!({"slot": slot, "flags": flags})),
            || self.inner.open_session(slot, flags),
        )
    }
    /// `C_CloseSession`.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        self.call(
            "C_CloseSession",
            Target::Session(session),
            self.args(|| json!({"session": session})),
            || self.inner.close_session(session),
        )
    }
    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        self.call(
            "C_CloseAllSessions",
            Target::Slot(slot),
            self.args(|| json!({"slot": slot})),
            || self.inner.close_all_sessions(slot),
        )
    }
    /// `C_GetSessionInfo`.
    pub fn session_info(&self, session: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO> {
        self.call(
            "C_GetSessionInfo",
            Target::Session(session),
            self.args(|| json!({"session": session})),
            || self.inner.session_info(session),
        )
    }
    /// `C_Login`.
    pub fn login(&self, session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        self.call(
            "C_Login",
            Target::Session(session),
            self.args(|| json!({"session": session, "user": user, "pin": secret(pin)})),
            || self.inner.login(session, user, pin),
        )
    }
    /// `C_Logout`.
    pub fn logout(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        self.call(
            "C_Logout",
            Target::Session(session),
            self.args(|| json!({"session": session})),
            || self.inner.logout(session),
        )
    }

    // ---- §5.7 object management ----------------------------------------------

    /// `C_CreateObject`.
    pub fn create_object(
        &self,
        session: CK_SESSION_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.call(
            "C_CreateObject",
            Target::Session(session),
            self.args(|| json!({"session": session, "template": template_json(&template)})),
            || self.inner.create_object(session, template),
        )
    }
    /// `C_CopyObject`.
    pub fn copy_object(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.call("C_CopyObject", Target::Session(session), self.args(|| json!({"session": session, "object": object, "template": template_json(&template)})), || self.inner.copy_object(session, object, template))
    }
    /// `C_DestroyObject`.
    pub fn destroy_object(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.call(
            "C_DestroyObject",
            Target::Session(session),
            self.args(|| json!({"session": session, "object": object})),
            || self.inner.destroy_object(session, object),
        )
    }
    /// `C_GetObjectSize`.
    pub fn object_size(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<CK_ULONG> {
        self.call(
            "C_GetObjectSize",
            Target::Session(session),
            self.args(|| json!({"session": session, "object": object})),
            || self.inner.object_size(session, object),
        )
    }
    /// `C_GetAttributeValue`: one answer per requested type, in order. The
    /// boundary turns them into buffer copies and the combined `CK_RV`.
    pub fn get_attributes(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrLookup>> {
        self.call("C_GetAttributeValue", Target::Session(session), self.args(|| json!({"session": session, "object": object, "types": types.iter().map(|t| attribute_name(*t)).collect::<Vec<_>>()})), || self.inner.get_attributes(session, object, types))
    }
    /// `C_SetAttributeValue`.
    pub fn set_attributes(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<()> {
        self.call("C_SetAttributeValue", Target::Session(session), self.args(|| json!({"session": session, "object": object, "template": template_json(&template)})), || self.inner.set_attributes(session, object, template))
    }
    /// `C_FindObjectsInit`.
    pub fn find_init(&self, session: CK_SESSION_HANDLE, template: Template) -> Result<()> {
        self.call(
            "C_FindObjectsInit",
            Target::Session(session),
            self.args(|| json!({"session": session, "template": template_json(&template)})),
            || self.inner.find_init(session, template),
        )
    }
    /// `C_FindObjects`: up to `max` handles.
    pub fn find_next(
        &self,
        session: CK_SESSION_HANDLE,
        max: usize,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.call(
            "C_FindObjects",
            Target::Find(session),
            self.args(|| json!({"session": session, "max": max})),
            || self.inner.find_next(session, max),
        )
    }
    /// `C_FindObjectsFinal`.
    pub fn find_final(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        self.call(
            "C_FindObjectsFinal",
            Target::Session(session),
            self.args(|| json!({"session": session})),
            || self.inner.find_final(session),
        )
    }

    // ---- §5.8–5.13 cryptographic operations ----------------------------------

    /// `C_EncryptInit`, `C_DecryptInit`, `C_SignInit`, `C_VerifyInit`,
    /// `C_SignRecoverInit`, `C_VerifyRecoverInit` (with a key) and `C_DigestInit`
    /// (`key` is `None`).
    pub fn op_init(
        &self,
        session: CK_SESSION_HANDLE,
        kind: OpKind,
        mechanism: Mechanism,
        key: Option<CK_OBJECT_HANDLE>,
    ) -> Result<()> {
        self.call(op_name(kind, Phase::Init), Target::Session(session), self.args(|| json!({"session": session, "mechanism": mechanism_name(mechanism.mech), "key": key})), || self.inner.op_init(session, kind, mechanism, key))
    }
    /// Single-part `C_Encrypt`, `C_Decrypt`, `C_Digest`, `C_Sign`,
    /// `C_SignRecover`, `C_VerifyRecover`. Follows the spec's size protocol: a
    /// query or `BufferTooSmall` leaves the operation active, any other error
    /// or success ends it.
    pub fn op_single(
        &self,
        session: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: OutSpec,
    ) -> Result<Output> {
        self.call(
            op_name(kind, Phase::Single),
            Target::Operation(session, kind),
            self.args(
                || json!({"session": session, "data_len": input.len(), "out": out_json(out)}),
            ),
            || self.inner.op_single(session, kind, input, out),
        )
    }
    /// `C_EncryptUpdate`/`C_DecryptUpdate` (may produce output) and
    /// `C_DigestUpdate`/`C_SignUpdate`/`C_VerifyUpdate` (output always empty).
    pub fn op_update(
        &self,
        session: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: OutSpec,
    ) -> Result<Output> {
        self.call(
            op_name(kind, Phase::Update),
            Target::Operation(session, kind),
            self.args(|| json!({"session": session, "data_len": input.len()})),
            || self.inner.op_update(session, kind, input, out),
        )
    }
    /// `C_EncryptFinal`, `C_DecryptFinal`, `C_DigestFinal`, `C_SignFinal`.
    pub fn op_final(
        &self,
        session: CK_SESSION_HANDLE,
        kind: OpKind,
        out: OutSpec,
    ) -> Result<Output> {
        self.call(
            op_name(kind, Phase::Final),
            Target::Operation(session, kind),
            self.args(|| json!({"session": session, "out": out_json(out)})),
            || self.inner.op_final(session, kind, out),
        )
    }
    /// Ends the session's active operation of `kind`, if any: for a call
    /// the C boundary refused before reaching the core (NULL or bad
    /// pointers, lengths), which ends the operation like any other failed
    /// call except a size query or `CKR_BUFFER_TOO_SMALL` (v3.0 §5.2).
    pub fn op_abort(&self, session: CK_SESSION_HANDLE, kind: OpKind) {
        self.inner.op_abort(session, kind);
    }
    /// `C_Verify` (single part): ends the operation whatever the outcome.
    pub fn verify(&self, session: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> Result<()> {
        self.call("C_Verify", Target::Operation(session, OpKind::Verify), self.args(|| json!({"session": session, "data_len": data.len(), "signature_len": signature.len()})), || self.inner.verify(session, data, signature))
    }
    /// `C_VerifyFinal`.
    pub fn verify_final(&self, session: CK_SESSION_HANDLE, signature: &[u8]) -> Result<()> {
        self.call(
            "C_VerifyFinal",
            Target::Operation(session, OpKind::Verify),
            self.args(|| json!({"session": session, "signature_len": signature.len()})),
            || self.inner.verify_final(session, signature),
        )
    }
    /// `C_DigestKey`.
    pub fn digest_key(&self, session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        self.call(
            "C_DigestKey",
            Target::Operation(session, OpKind::Digest),
            self.args(|| json!({"session": session, "key": key})),
            || self.inner.digest_key(session, key),
        )
    }
    /// `C_GenerateKey`.
    pub fn generate_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: Mechanism,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.call("C_GenerateKey", Target::Session(session), self.args(|| json!({"session": session, "mechanism": mechanism_name(mechanism.mech), "template": template_json(&template)})), || self.inner.generate_key(session, mechanism, template))
    }
    /// `C_WrapKey` under the two-call protocol (a query gives the exact length).
    pub fn wrap_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: Mechanism,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: OutSpec,
    ) -> Result<Output> {
        self.call(
            "C_WrapKey",
            Target::Session(session),
            self.args(|| json!({"session": session, "mechanism": mechanism_name(mechanism.mech), "wrapping_key": wrapping_key, "key": key, "out": out_json(out)})),
            || self.inner.wrap_key(session, mechanism, wrapping_key, key, out),
        )
    }
    /// `C_UnwrapKey`.
    pub fn unwrap_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: Mechanism,
        unwrapping_key: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.call(
            "C_UnwrapKey",
            Target::Session(session),
            self.args(|| json!({"session": session, "mechanism": mechanism_name(mechanism.mech), "unwrapping_key": unwrapping_key, "wrapped_len": wrapped.len(), "template": template_json(&template)})),
            || self.inner.unwrap_key(session, mechanism, unwrapping_key, wrapped, template),
        )
    }
    /// `C_DeriveKey`.
    pub fn derive_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: Mechanism,
        base_key: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.call(
            "C_DeriveKey",
            Target::Session(session),
            self.args(|| json!({"session": session, "mechanism": mechanism_name(mechanism.mech), "base_key": base_key, "template": template_json(&template)})),
            || self.inner.derive_key(session, mechanism, base_key, template),
        )
    }
    /// `C_GenerateKeyPair`: returns (public, private).
    pub fn generate_key_pair(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: Mechanism,
        public_template: Template,
        private_template: Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        self.call("C_GenerateKeyPair", Target::Session(session), self.args(|| json!({"session": session, "mechanism": mechanism_name(mechanism.mech), "public": template_json(&public_template), "private": template_json(&private_template)})), || self.inner.generate_key_pair(session, mechanism, public_template, private_template))
    }
    /// `C_SeedRandom`.
    pub fn seed_random(&self, session: CK_SESSION_HANDLE, seed: &[u8]) -> Result<()> {
        self.call(
            "C_SeedRandom",
            Target::Session(session),
            self.args(|| json!({"session": session, "seed_len": seed.len()})),
            || self.inner.seed_random(session, seed),
        )
    }
    /// `C_GenerateRandom`.
    pub fn generate_random(&self, session: CK_SESSION_HANDLE, len: usize) -> Result<Vec<u8>> {
        self.call(
            "C_GenerateRandom",
            Target::Session(session),
            self.args(|| json!({"session": session, "len": len})),
            || self.inner.generate_random(session, len),
        )
    }
    /// Checks that a session handle is valid (for functions this token does not
    /// support, so they still report `CKR_SESSION_HANDLE_INVALID` first).
    pub fn check_session(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        self.inner.check_session(session)
    }
}
