//! The core's one error type and the one table that maps it to `CK_RV`.
//!
//! The core says *why* something failed; the C boundary only needs *which*
//! `CKR_*` to return. Keeping the reason lets logs and the harness explain a
//! failure without guessing from a bare return value.

use crate::ck::*;

/// Result alias used throughout the core.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the library is not initialised")]
    NotInitialized,
    #[error("the library is already initialised")]
    AlreadyInitialized,
    #[error("bad arguments: {0}")]
    ArgumentsBad(&'static str),
    #[error("the function runs only in parallel mode, which this token does not have")]
    FunctionNotParallel,
    #[error("function not supported: {0}")]
    FunctionNotSupported(&'static str),
    #[error("no slot with id {0}")]
    SlotIdInvalid(CK_SLOT_ID),
    #[error("no token present in slot {0}")]
    TokenNotPresent(CK_SLOT_ID),
    #[error("the token was removed while the session was open")]
    DeviceRemoved,
    #[error("device error: {0}")]
    DeviceError(String),
    #[error("token memory is full")]
    DeviceMemory,
    #[error("invalid session handle {0}")]
    SessionHandleInvalid(CK_SESSION_HANDLE),
    #[error("the session is closed")]
    SessionClosed,
    #[error("too many sessions are open")]
    SessionCount,
    #[error("CKF_SERIAL_SESSION was not set")]
    SessionParallelNotSupported,
    #[error("the session is read-only")]
    SessionReadOnly,
    #[error("a read-only session exists, so SO cannot log in")]
    SessionReadOnlyExists,
    #[error("a read-write SO session exists")]
    SessionReadWriteSoExists,
    #[error("sessions are open on the token")]
    SessionExists,
    #[error("invalid object handle {0}")]
    ObjectHandleInvalid(CK_OBJECT_HANDLE),
    #[error("invalid key handle {0}")]
    KeyHandleInvalid(CK_OBJECT_HANDLE),
    #[error("attribute {} is sensitive", crate::names::attribute_name(*.0))]
    AttributeSensitive(CK_ATTRIBUTE_TYPE),
    #[error("attribute {} is not valid for this object", crate::names::attribute_name(*.0))]
    AttributeTypeInvalid(CK_ATTRIBUTE_TYPE),
    #[error("attribute {} has an invalid value: {}", crate::names::attribute_name(*.0), .1)]
    AttributeValueInvalid(CK_ATTRIBUTE_TYPE, &'static str),
    #[error("attribute {} cannot be changed", crate::names::attribute_name(*.0))]
    AttributeReadOnly(CK_ATTRIBUTE_TYPE),
    #[error("template is incomplete: {} missing", crate::names::attribute_name(*.0))]
    TemplateIncomplete(CK_ATTRIBUTE_TYPE),
    #[error("template is inconsistent: {0}")]
    TemplateInconsistent(&'static str),
    #[error("the object may not be modified or copied")]
    ActionProhibited,
    #[error("mechanism {} is not supported", crate::names::mechanism_name(*.0))]
    MechanismInvalid(CK_MECHANISM_TYPE),
    #[error("mechanism parameter is invalid: {0}")]
    MechanismParamInvalid(&'static str),
    #[error("the domain parameters are invalid or not supported")]
    DomainParamsInvalid,
    #[error("the elliptic curve is not supported")]
    CurveNotSupported,
    #[error("an operation of this kind is already active")]
    OperationActive,
    #[error("no operation of this kind is active")]
    OperationNotInitialized,
    #[error("the key type does not fit the mechanism")]
    KeyTypeInconsistent,
    #[error("the key does not permit this operation")]
    KeyFunctionNotPermitted,
    #[error("the key size is outside the mechanism's range")]
    KeySizeRange,
    #[error("the key cannot be digested")]
    KeyIndigestible,
    #[error("invalid wrapping key handle {0}")]
    WrappingKeyHandleInvalid(CK_OBJECT_HANDLE),
    #[error("the wrapping key's type does not fit the mechanism")]
    WrappingKeyTypeInconsistent,
    #[error("the wrapping key's size is outside the mechanism's range")]
    WrappingKeySizeRange,
    #[error("invalid unwrapping key handle {0}")]
    UnwrappingKeyHandleInvalid(CK_OBJECT_HANDLE),
    #[error("the unwrapping key's type does not fit the mechanism")]
    UnwrappingKeyTypeInconsistent,
    #[error("the unwrapping key's size is outside the mechanism's range")]
    UnwrappingKeySizeRange,
    #[error("the key is not extractable (CKA_EXTRACTABLE is false)")]
    KeyUnextractable,
    #[error("the key cannot be wrapped: {0}")]
    KeyNotWrappable(&'static str),
    #[error("the wrapped key is invalid")]
    WrappedKeyInvalid,
    #[error("the wrapped key has an invalid length")]
    WrappedKeyLenRange,
    #[error("input data has an invalid length")]
    DataLenRange,
    #[error("input data is invalid")]
    DataInvalid,
    #[error("encrypted data is invalid")]
    EncryptedDataInvalid,
    #[error("encrypted data has an invalid length")]
    EncryptedDataLenRange,
    #[error("the signature is invalid")]
    SignatureInvalid,
    #[error("the signature has an invalid length")]
    SignatureLenRange,
    #[error("output buffer too small, {0} bytes needed")]
    BufferTooSmall(usize),
    #[error("the PIN is incorrect")]
    PinIncorrect,
    #[error("the PIN is locked")]
    PinLocked,
    #[error("the PIN length is outside the token's range")]
    PinLenRange,
    #[error("the new PIN is not acceptable")]
    PinInvalid,
    #[error("the user PIN is not initialised")]
    UserPinNotInitialized,
    #[error("this user is already logged in")]
    UserAlreadyLoggedIn,
    #[error("another user is already logged in")]
    UserAnotherAlreadyLoggedIn,
    #[error("the user is not logged in")]
    UserNotLoggedIn,
    #[error("invalid user type {0}")]
    UserTypeInvalid(CK_USER_TYPE),
    #[error("the token is write protected")]
    TokenWriteProtected,
    #[error("no slot event")]
    NoEvent,
    #[error("random seeding is not supported")]
    RandomSeedNotSupported,
    #[error("the operation state cannot be saved")]
    StateUnsaveable,
    /// The message includes the store error's, so neither store variant
    /// returns it as `source()` (no `#[from]`/`#[source]`, no field named
    /// `source`): printed as a chain, it would appear twice.
    #[error("token store: {0}")]
    Store(tokenemu_store::StoreError),
    /// A slot's store failed; says how to recover when the store is damaged.
    #[error("slot {slot}: {error}{}", recovery_hint(*.slot, .dir, .error))]
    SlotStore {
        slot: CK_SLOT_ID,
        /// The store directory.
        dir: std::path::PathBuf,
        /// What the store reported.
        error: tokenemu_store::StoreError,
    },
    #[error("configuration error: {0}")]
    Config(String),
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    #[error("injected fault {0:#x}")]
    Injected(CK_RV),
    #[error("internal error: {0}")]
    General(String),
}

impl From<tokenemu_store::StoreError> for Error {
    fn from(e: tokenemu_store::StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(e: crate::crypto::CryptoError) -> Self {
        use crate::crypto::CryptoError as C;
        match e {
            C::InvalidSignature => Error::SignatureInvalid,
            C::SignatureLength => Error::SignatureLenRange,
            C::DataLength => Error::DataLenRange,
            C::InvalidData => Error::DataInvalid,
            C::EncryptedData => Error::EncryptedDataInvalid,
            C::EncryptedDataLength => Error::EncryptedDataLenRange,
            C::KeySize => Error::KeySizeRange,
            C::InvalidParameter(what) => Error::MechanismParamInvalid(what),
            // C_Decrypt with an AEAD mechanism: the ciphertext (its tag) is not
            // what the key, IV and AAD give (v3.0 keeps CKR_AEAD_DECRYPT_FAILED
            // for the message-based functions).
            C::AuthenticationFailed => Error::EncryptedDataInvalid,
            C::OperationFinished => Error::OperationNotInitialized,
            other => Error::Crypto(other.to_string()),
        }
    }
}

impl From<&Error> for CK_RV {
    fn from(e: &Error) -> CK_RV {
        use Error::*;
        match e {
            NotInitialized => CKR_CRYPTOKI_NOT_INITIALIZED,
            AlreadyInitialized => CKR_CRYPTOKI_ALREADY_INITIALIZED,
            ArgumentsBad(_) => CKR_ARGUMENTS_BAD,
            FunctionNotParallel => CKR_FUNCTION_NOT_PARALLEL,
            FunctionNotSupported(_) => CKR_FUNCTION_NOT_SUPPORTED,
            SlotIdInvalid(_) => CKR_SLOT_ID_INVALID,
            TokenNotPresent(_) => CKR_TOKEN_NOT_PRESENT,
            DeviceRemoved => CKR_DEVICE_REMOVED,
            DeviceError(_) => CKR_DEVICE_ERROR,
            DeviceMemory => CKR_DEVICE_MEMORY,
            SessionHandleInvalid(_) => CKR_SESSION_HANDLE_INVALID,
            SessionClosed => CKR_SESSION_CLOSED,
            SessionCount => CKR_SESSION_COUNT,
            SessionParallelNotSupported => CKR_SESSION_PARALLEL_NOT_SUPPORTED,
            SessionReadOnly => CKR_SESSION_READ_ONLY,
            SessionReadOnlyExists => CKR_SESSION_READ_ONLY_EXISTS,
            SessionReadWriteSoExists => CKR_SESSION_READ_WRITE_SO_EXISTS,
            SessionExists => CKR_SESSION_EXISTS,
            ObjectHandleInvalid(_) => CKR_OBJECT_HANDLE_INVALID,
            KeyHandleInvalid(_) => CKR_KEY_HANDLE_INVALID,
            AttributeSensitive(_) => CKR_ATTRIBUTE_SENSITIVE,
            AttributeTypeInvalid(_) => CKR_ATTRIBUTE_TYPE_INVALID,
            AttributeValueInvalid(..) => CKR_ATTRIBUTE_VALUE_INVALID,
            AttributeReadOnly(_) => CKR_ATTRIBUTE_READ_ONLY,
            TemplateIncomplete(_) => CKR_TEMPLATE_INCOMPLETE,
            TemplateInconsistent(_) => CKR_TEMPLATE_INCONSISTENT,
            ActionProhibited => CKR_ACTION_PROHIBITED,
            MechanismInvalid(_) => CKR_MECHANISM_INVALID,
            MechanismParamInvalid(_) => CKR_MECHANISM_PARAM_INVALID,
            DomainParamsInvalid => CKR_DOMAIN_PARAMS_INVALID,
            CurveNotSupported => CKR_CURVE_NOT_SUPPORTED,
            OperationActive => CKR_OPERATION_ACTIVE,
            OperationNotInitialized => CKR_OPERATION_NOT_INITIALIZED,
            KeyTypeInconsistent => CKR_KEY_TYPE_INCONSISTENT,
            KeyFunctionNotPermitted => CKR_KEY_FUNCTION_NOT_PERMITTED,
            KeySizeRange => CKR_KEY_SIZE_RANGE,
            KeyIndigestible => CKR_KEY_INDIGESTIBLE,
            WrappingKeyHandleInvalid(_) => CKR_WRAPPING_KEY_HANDLE_INVALID,
            WrappingKeyTypeInconsistent => CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
            WrappingKeySizeRange => CKR_WRAPPING_KEY_SIZE_RANGE,
            UnwrappingKeyHandleInvalid(_) => CKR_UNWRAPPING_KEY_HANDLE_INVALID,
            UnwrappingKeyTypeInconsistent => CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
            UnwrappingKeySizeRange => CKR_UNWRAPPING_KEY_SIZE_RANGE,
            KeyUnextractable => CKR_KEY_UNEXTRACTABLE,
            KeyNotWrappable(_) => CKR_KEY_NOT_WRAPPABLE,
            WrappedKeyInvalid => CKR_WRAPPED_KEY_INVALID,
            WrappedKeyLenRange => CKR_WRAPPED_KEY_LEN_RANGE,
            DataLenRange => CKR_DATA_LEN_RANGE,
            DataInvalid => CKR_DATA_INVALID,
            EncryptedDataInvalid => CKR_ENCRYPTED_DATA_INVALID,
            EncryptedDataLenRange => CKR_ENCRYPTED_DATA_LEN_RANGE,
            SignatureInvalid => CKR_SIGNATURE_INVALID,
            SignatureLenRange => CKR_SIGNATURE_LEN_RANGE,
            BufferTooSmall(_) => CKR_BUFFER_TOO_SMALL,
            PinIncorrect => CKR_PIN_INCORRECT,
            PinLocked => CKR_PIN_LOCKED,
            PinLenRange => CKR_PIN_LEN_RANGE,
            PinInvalid => CKR_PIN_INVALID,
            UserPinNotInitialized => CKR_USER_PIN_NOT_INITIALIZED,
            UserAlreadyLoggedIn => CKR_USER_ALREADY_LOGGED_IN,
            UserAnotherAlreadyLoggedIn => CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
            UserNotLoggedIn => CKR_USER_NOT_LOGGED_IN,
            UserTypeInvalid(_) => CKR_USER_TYPE_INVALID,
            TokenWriteProtected => CKR_TOKEN_WRITE_PROTECTED,
            NoEvent => CKR_NO_EVENT,
            RandomSeedNotSupported => CKR_RANDOM_SEED_NOT_SUPPORTED,
            StateUnsaveable => CKR_STATE_UNSAVEABLE,
            Store(e) | SlotStore { error: e, .. } => store_rv(e),
            Config(_) => CKR_GENERAL_ERROR,
            Crypto(_) => CKR_FUNCTION_FAILED,
            Injected(rv) => *rv,
            General(_) => CKR_GENERAL_ERROR,
        }
    }
}

/// A write-protected store refuses changes as the token would; a full disk
/// is the token's memory running out (the commit changed nothing, see the
/// store's protocol); anything else is a device error.
fn store_rv(e: &tokenemu_store::StoreError) -> CK_RV {
    match e {
        tokenemu_store::StoreError::ReadOnly { .. } => CKR_TOKEN_WRITE_PROTECTED,
        e if e.is_storage_full() => CKR_DEVICE_MEMORY,
        _ => CKR_DEVICE_ERROR,
    }
}

/// What to do about a damaged store (nothing for other store errors).
pub(crate) fn recovery_hint(
    slot: CK_SLOT_ID,
    dir: &std::path::Path,
    e: &tokenemu_store::StoreError,
) -> String {
    match e {
        tokenemu_store::StoreError::Corrupt { .. } => damaged_store_advice(slot, dir),
        _ => String::new(),
    }
}

/// How to get a working token back from a damaged store: the store cannot
/// be repaired in place, but moving it away keeps what is left of it.
pub(crate) fn damaged_store_advice(slot: CK_SLOT_ID, dir: &std::path::Path) -> String {
    format!(
        "; to recover, move the directory {} away (it keeps the damaged data) and run \
         `tokenemu token init --slot {slot}`, which starts a new, empty token",
        dir.display()
    )
}

impl Error {
    /// The error of slot `slot`'s store in `dir` (see [`Error::SlotStore`]).
    pub fn slot_store(
        slot: CK_SLOT_ID,
        dir: &std::path::Path,
        error: tokenemu_store::StoreError,
    ) -> Error {
        Error::SlotStore {
            slot,
            dir: dir.to_path_buf(),
            error,
        }
    }

    /// The `CK_RV` this error is reported as at the C boundary.
    pub fn rv(&self) -> CK_RV {
        CK_RV::from(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tokenemu_store::StoreError;

    #[test]
    fn a_damaged_store_says_how_to_recover_and_other_store_errors_do_not() {
        let dir = Path::new("/data/tokens/slot-3");
        let corrupt = Error::slot_store(
            3,
            dir,
            StoreError::Corrupt {
                path: dir.join("objects/2a.pack"),
                reason: "checksum mismatch".to_owned(),
            },
        );
        let text = corrupt.to_string();
        assert!(
            text.contains("move the directory /data/tokens/slot-3 away"),
            "{text}"
        );
        assert!(text.contains("`tokenemu token init --slot 3`"), "{text}");
        assert_eq!(corrupt.rv(), CKR_DEVICE_ERROR);

        let read_only = Error::slot_store(
            3,
            dir,
            StoreError::ReadOnly {
                path: dir.to_path_buf(),
                reason: "changing the token is not possible".to_owned(),
            },
        );
        assert!(!read_only.to_string().contains("token init"));
        assert_eq!(read_only.rv(), CKR_TOKEN_WRITE_PROTECTED);
        let full = Error::slot_store(
            3,
            dir,
            StoreError::Io {
                path: dir.join("journal.tmp"),
                error: std::io::Error::from(std::io::ErrorKind::StorageFull),
            },
        );
        assert_eq!(full.rv(), CKR_DEVICE_MEMORY);
    }
}
