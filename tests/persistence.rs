//! Token state survives `C_Finalize`/`C_Initialize` (and a new process would
//! see the same store): token objects, keys that still work, PINs, labels;
//! session objects do not survive.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use common::{assert_rv, Ctx, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use serial_test::serial;

fn by_label(label: &str) -> [Attribute; 1] {
    [Attribute::Label(label.as_bytes().to_vec())]
}

#[test]
#[serial]
fn token_objects_and_keys_survive_reinitialize() {
    let mut ctx = Ctx::new();
    let sig = {
        let s = ctx.user_session(ETOKEN);
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(b"kept".to_vec()),
            Attribute::Value(b"persistent value".to_vec()),
        ])
        .unwrap();
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(false),
            Attribute::Label(b"gone".to_vec()),
        ])
        .unwrap();
        let (_, private) = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::ModulusBits(1024.into()),
                    Attribute::Label(b"key".to_vec()),
                    Attribute::Verify(true),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Label(b"key".to_vec()),
                    Attribute::Sign(true),
                ],
            )
            .unwrap();
        s.sign(&Mechanism::Sha256RsaPkcs, private, b"before")
            .unwrap()
    };
    ctx.reinitialize();

    let s = ctx.ro(ETOKEN);
    let kept = s.find_objects(&by_label("kept")).unwrap();
    assert_eq!(kept.len(), 1, "token object lost");
    assert_eq!(
        s.get_attributes(kept[0], &[AttributeType::Value]).unwrap(),
        [Attribute::Value(b"persistent value".to_vec())]
    );
    assert!(
        s.find_objects(&by_label("gone")).unwrap().is_empty(),
        "session object survived"
    );
    // The private key is private: invisible until login.
    let keys = s.find_objects(&by_label("key")).unwrap();
    assert_eq!(keys.len(), 1, "only the public key is visible before login");
    s.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
        .unwrap();
    let private = s
        .find_objects(&[
            Attribute::Label(b"key".to_vec()),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
        ])
        .unwrap();
    let public = s
        .find_objects(&[
            Attribute::Label(b"key".to_vec()),
            Attribute::Class(ObjectClass::PUBLIC_KEY),
        ])
        .unwrap();
    assert_eq!((private.len(), public.len()), (1, 1));
    // Deterministic PKCS#1 v1.5: the same key gives the same signature.
    s.verify(&Mechanism::Sha256RsaPkcs, public[0], b"before", &sig)
        .unwrap();
    assert_eq!(
        s.sign(&Mechanism::Sha256RsaPkcs, private[0], b"before")
            .unwrap(),
        sig
    );
}

#[test]
#[serial]
fn pins_and_labels_survive_reinitialize() {
    let mut ctx = Ctx::new();
    {
        let s = ctx.rw(ETOKEN);
        s.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
            .unwrap();
        s.set_pin(
            &ctx.env.user_pin(ETOKEN),
            &AuthPin::from("persisted-pin".to_owned()),
        )
        .unwrap();
    }
    ctx.reinitialize();
    let s = ctx.rw(ETOKEN);
    assert_rv(
        s.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN))),
        RvError::PinIncorrect,
    );
    s.login(
        UserType::User,
        Some(&AuthPin::from("persisted-pin".to_owned())),
    )
    .unwrap();
    drop(s);
    ctx.p11()
        .init_token(ctx.slot(ETOKEN), &ctx.env.so_pin(ETOKEN), "Relabelled")
        .unwrap();
    ctx.reinitialize();
    assert_eq!(
        ctx.p11().get_token_info(ctx.slot(ETOKEN)).unwrap().label(),
        "Relabelled"
    );
}

#[test]
#[serial]
fn init_token_wipes_objects() {
    let mut ctx = Ctx::new();
    {
        let s = ctx.user_session(ETOKEN);
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(b"wiped".to_vec()),
        ])
        .unwrap();
    }
    ctx.p11()
        .init_token(ctx.slot(ETOKEN), &ctx.env.so_pin(ETOKEN), "Fresh")
        .unwrap();
    let s = ctx.ro(ETOKEN);
    assert!(s.find_objects(&by_label("wiped")).unwrap().is_empty());
    drop(s);
    ctx.reinitialize();
    let s = ctx.ro(ETOKEN);
    assert!(s.find_objects(&by_label("wiped")).unwrap().is_empty());
}

#[test]
#[serial]
fn stores_are_per_slot() {
    let mut ctx = Ctx::new();
    {
        let s = ctx.user_session(ETOKEN);
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(b"only-here".to_vec()),
        ])
        .unwrap();
    }
    ctx.reinitialize();
    for slot in [0, 2] {
        let s = ctx.ro(slot);
        assert!(
            s.find_objects(&by_label("only-here")).unwrap().is_empty(),
            "object leaked into slot {slot}"
        );
    }
    assert!(ctx.env.store_dir(ETOKEN).exists());
}
