//! Object management (§5.7) and the attribute policy: who may create what,
//! visibility of private objects, read-only and sensitive attributes,
//! template errors, copy/destroy, session-object lifetime.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use common::{assert_rv, Ctx, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::*;
use serial_test::serial;

fn data(label: &str, token: bool, private: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(token),
        Attribute::Private(private),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Application(b"tokenemu-tests".to_vec()),
        Attribute::Value(b"payload".to_vec()),
    ]
}

fn find_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .unwrap()
}

fn label_of(s: &Session, o: ObjectHandle) -> String {
    match s
        .get_attributes(o, &[AttributeType::Label])
        .unwrap()
        .as_slice()
    {
        [Attribute::Label(l)] => String::from_utf8(l.clone()).unwrap(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
#[serial]
fn create_find_copy_destroy() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let a = s.create_object(&data("obj-a", true, false)).unwrap();
    let b = s.create_object(&data("obj-b", false, false)).unwrap();
    assert_ne!(a, b);
    assert_eq!(find_label(&s, "obj-a"), [a]);
    let all = s
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Application(b"tokenemu-tests".to_vec()),
        ])
        .unwrap();
    assert_eq!(all.len(), 2);

    let c = s
        .copy_object(
            a,
            &[Attribute::Label(b"obj-c".to_vec()), Attribute::Token(false)],
        )
        .unwrap();
    assert_eq!(label_of(&s, c), "obj-c");
    assert_eq!(label_of(&s, a), "obj-a");

    s.update_attributes(a, &[Attribute::Label(b"obj-a2".to_vec())])
        .unwrap();
    assert_eq!(label_of(&s, a), "obj-a2");
    assert!(find_label(&s, "obj-a").is_empty());

    s.destroy_object(a).unwrap();
    assert_rv(
        s.get_attributes(a, &[AttributeType::Label]),
        RvError::ObjectHandleInvalid,
    );
    assert_rv(s.destroy_object(a), RvError::ObjectHandleInvalid);
}

#[test]
#[serial]
fn object_size_and_find_in_batches() {
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let mut made = Vec::new();
    for i in 0..25 {
        made.push(
            s.create_object(&data(&format!("batch-{i}"), false, false))
                .unwrap(),
        );
    }
    // cryptoki's iterator fetches in batches of 10 here.
    let found: Vec<_> = s
        .iter_objects_with_cache_size(
            &[Attribute::Application(b"tokenemu-tests".to_vec())],
            std::num::NonZeroUsize::new(10).unwrap(),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(found.len(), 25);
    let raw = common::raw();
    let mut size: CK_ULONG = 0;
    // SAFETY: valid out-pointer.
    let rv = unsafe { raw.C_GetObjectSize(s.handle(), made[0].handle(), &mut size) };
    assert_eq!(rv, CKR_OK);
    assert!(size > 0);
}

#[test]
#[serial]
fn find_operation_rules() {
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let raw = common::raw();
    let h = s.handle();
    let mut out = [0 as CK_OBJECT_HANDLE; 4];
    let mut n: CK_ULONG = 0;
    // SAFETY: valid buffers; an empty template matches everything.
    unsafe {
        assert_eq!(
            raw.C_FindObjects(h, out.as_mut_ptr(), 4, &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(raw.C_FindObjectsFinal(h), CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(raw.C_FindObjectsInit(h, std::ptr::null_mut(), 0), CKR_OK);
        assert_eq!(
            raw.C_FindObjectsInit(h, std::ptr::null_mut(), 0),
            CKR_OPERATION_ACTIVE
        );
        assert_eq!(raw.C_FindObjects(h, out.as_mut_ptr(), 4, &mut n), CKR_OK);
        assert_eq!(
            raw.C_FindObjects(h, std::ptr::null_mut(), 0, &mut n),
            CKR_OK
        );
        assert_eq!(n, 0);
        assert_eq!(raw.C_FindObjectsFinal(h), CKR_OK);
    }
}

#[test]
#[serial]
fn read_only_sessions_and_login_requirements() {
    let ctx = Ctx::new();
    let ro = ctx.ro(ETOKEN);
    // Session objects may be created in a read-only session …
    ro.create_object(&data("ro-session", false, false)).unwrap();
    // … token objects may not.
    assert_rv(
        ro.create_object(&data("ro-token", true, false)),
        RvError::SessionReadOnly,
    );
    // Private objects need a logged-in user.
    let rw = ctx.rw(ETOKEN);
    assert_rv(
        rw.create_object(&data("private", true, true)),
        RvError::UserNotLoggedIn,
    );
    rw.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
        .unwrap();
    let p = rw.create_object(&data("private", true, true)).unwrap();
    assert_eq!(find_label(&ro, "private"), [p]);
    rw.logout().unwrap();
    // Invisible again after logout, also by handle.
    assert!(find_label(&ro, "private").is_empty());
    let r = ro.get_attributes(p, &[AttributeType::Label]);
    assert!(matches!(
        common::rv_of(&r.unwrap_err()),
        RvError::ObjectHandleInvalid | RvError::UserNotLoggedIn
    ));
}

#[test]
#[serial]
fn session_objects_die_with_their_session() {
    let ctx = Ctx::new();
    let keep = ctx.rw(ETOKEN);
    let o = {
        let s = ctx.rw(ETOKEN);
        let o = s.create_object(&data("ephemeral", false, false)).unwrap();
        assert_eq!(
            find_label(&keep, "ephemeral"),
            [o],
            "session objects are visible to other sessions"
        );
        o
    };
    assert!(find_label(&keep, "ephemeral").is_empty());
    assert_rv(
        keep.get_attributes(o, &[AttributeType::Label]),
        RvError::ObjectHandleInvalid,
    );
}

#[test]
#[serial]
fn template_errors() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    assert_rv(
        s.create_object(&[Attribute::Label(b"no class".to_vec())]),
        RvError::TemplateIncomplete,
    );
    assert_rv(
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(false),
            Attribute::Token(true),
        ]),
        RvError::TemplateInconsistent,
    );
    // A CK_BBOOL of the wrong size, through the raw API.
    let raw = common::raw();
    let mut class = CKO_DATA;
    let mut bad_bool = [1u8, 0];
    let mut t = [
        CK_ATTRIBUTE {
            type_: CKA_CLASS,
            pValue: (&mut class as *mut CK_ULONG).cast(),
            ulValueLen: 8,
        },
        CK_ATTRIBUTE {
            type_: CKA_TOKEN,
            pValue: bad_bool.as_mut_ptr().cast(),
            ulValueLen: 2,
        },
    ];
    let mut h: CK_OBJECT_HANDLE = 0;
    // SAFETY: t and its values are valid.
    let rv = unsafe { raw.C_CreateObject(s.handle(), t.as_mut_ptr(), 2, &mut h) };
    assert_eq!(
        common::rv_name(rv),
        common::rv_name(CKR_ATTRIBUTE_VALUE_INVALID)
    );
}

fn rsa_pair(s: &Session, extractable: bool) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::ModulusBits(1024.into()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Extractable(extractable),
        ],
    )
    .unwrap()
}

#[test]
#[serial]
fn key_attribute_policy() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, private) = rsa_pair(&s, false);
    let attrs = s
        .get_attributes(
            private,
            &[
                AttributeType::Class,
                AttributeType::KeyType,
                AttributeType::Local,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Modulus,
            ],
        )
        .unwrap();
    assert!(attrs.contains(&Attribute::Class(ObjectClass::PRIVATE_KEY)));
    assert!(attrs.contains(&Attribute::Local(true)));
    assert!(attrs.contains(&Attribute::AlwaysSensitive(true)));
    assert!(attrs.contains(&Attribute::NeverExtractable(true)));
    assert!(attrs
        .iter()
        .any(|a| matches!(a, Attribute::Modulus(m) if m.len() == 128)));
    // Sensitive parts are never returned.
    assert!(s
        .get_attributes(
            private,
            &[AttributeType::PrivateExponent, AttributeType::Prime1]
        )
        .unwrap()
        .is_empty());
    // The public key's modulus equals the private key's.
    let pm = s.get_attributes(public, &[AttributeType::Modulus]).unwrap();
    assert!(attrs.contains(&pm[0]));

    assert_rv(
        s.update_attributes(private, &[Attribute::Class(ObjectClass::DATA)]),
        RvError::AttributeReadOnly,
    );
    assert_rv(
        s.update_attributes(private, &[Attribute::Sensitive(false)]),
        RvError::AttributeReadOnly,
    );
    assert_rv(
        s.update_attributes(private, &[Attribute::Extractable(true)]),
        RvError::AttributeReadOnly,
    );
    assert_rv(
        s.update_attributes(private, &[Attribute::Local(false)]),
        RvError::AttributeReadOnly,
    );
    s.update_attributes(private, &[Attribute::Label(b"renamed key".to_vec())])
        .unwrap();
}

#[test]
#[serial]
fn unmodifiable_objects() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let mut t = data("frozen", false, false);
    t.push(Attribute::Modifiable(false));
    let o = s.create_object(&t).unwrap();
    // The spec lists both codes for C_SetAttributeValue; either is accepted.
    let r = s.update_attributes(o, &[Attribute::Label(b"thawed".to_vec())]);
    assert!(matches!(
        common::rv_of(&r.unwrap_err()),
        RvError::ActionProhibited | RvError::AttributeReadOnly
    ));
    let mut t = data("no-copy", false, false);
    t.push(Attribute::Copyable(false));
    let o = s.create_object(&t).unwrap();
    assert_rv(s.copy_object(o, &[]), RvError::ActionProhibited);
    let mut t = data("no-destroy", false, false);
    t.push(Attribute::Destroyable(false));
    let o = s.create_object(&t).unwrap();
    assert_rv(s.destroy_object(o), RvError::ActionProhibited);
}
