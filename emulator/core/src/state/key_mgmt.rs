//! Key management (v3.0 §5.18): generating keys and key pairs, wrapping,
//! unwrapping and deriving keys.

use super::*;

impl ModuleState {
    pub(crate) fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_GENERATE)?;
            let imp = registry().get(m.mech)?;
            let kt = imp
                .generated_key_type(m.mech)
                .ok_or(Error::MechanismInvalid(m.mech))?;
            let template = with_class(template, CKO_SECRET_KEY, kt)?;
            let mut attrs = build_attrs(&template, Origin::Generate(m.mech))?;
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            imp.generate_key(&m, &mut attrs, (info.ulMinKeySize, info.ulMaxKeySize))?;
            crate::mechanism::symmetric::complete_secret_key(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn generate_key_pair(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        public: Template,
        private: Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_GENERATE_KEY_PAIR)?;
            let imp = registry().get(m.mech)?;
            let kt = imp
                .generated_key_type(m.mech)
                .ok_or(Error::MechanismInvalid(m.mech))?;
            let public = with_class(public, CKO_PUBLIC_KEY, kt)?;
            let private = with_class(private, CKO_PRIVATE_KEY, kt)?;
            let mut pub_attrs = build_attrs(&public, Origin::Generate(m.mech))?;
            let mut priv_attrs = build_attrs(&private, Origin::Generate(m.mech))?;
            for attrs in [&pub_attrs, &priv_attrs] {
                Self::check_write(t, s, attrs)?;
                Self::check_trusted(t, attrs)?;
            }
            imp.generate_key_pair(
                &m,
                &mut pub_attrs,
                &mut priv_attrs,
                (info.ulMinKeySize, info.ulMaxKeySize),
            )?;
            t.insert_pair(
                Self::new_object(h, pub_attrs),
                Self::new_object(h, priv_attrs),
            )
        })
    }

    /// `C_WrapKey`: secret keys only (a private key would need PKCS#8).
    pub(crate) fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: OutSpec,
    ) -> Result<Output> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, _| {
            let info = self.mech_for(slot, m.mech, CKF_WRAP)?;
            let imp = registry().get(m.mech)?;
            let wk = t
                .object(wrapping_key)
                .map_err(|_| Error::WrappingKeyHandleInvalid(wrapping_key))?;
            let k = t.object(key).map_err(|_| Error::KeyHandleInvalid(key))?;
            if k.class() != CKO_SECRET_KEY {
                return Err(Error::KeyNotWrappable(
                    "only secret keys are wrapped by this token",
                ));
            }
            if !k.flag(CKA_EXTRACTABLE) {
                return Err(Error::KeyUnextractable);
            }
            if k.flag(CKA_WRAP_WITH_TRUSTED) && !wk.flag(CKA_TRUSTED) {
                return Err(Error::KeyNotWrappable(
                    "CKA_WRAP_WITH_TRUSTED needs a CKA_TRUSTED wrapping key",
                ));
            }
            let value = k
                .attrs
                .get_bytes(CKA_VALUE)
                .ok_or(Error::KeyNotWrappable("the key has no value"))?;
            let wrapped = imp.wrap(&m, &wk, value).map_err(|e| match e {
                Error::KeyTypeInconsistent => Error::WrappingKeyTypeInconsistent,
                e => e,
            })?;
            check_key_size(imp, &m, &wk, &info).map_err(|e| match e {
                Error::KeySizeRange => Error::WrappingKeySizeRange,
                e => e,
            })?;
            match out {
                OutSpec::Query => Ok(Output::Len(wrapped.len())),
                OutSpec::Capacity(c) if c < wrapped.len() => {
                    Err(Error::BufferTooSmall(wrapped.len()))
                }
                OutSpec::Capacity(_) => Ok(Output::Data(wrapped)),
            }
        })
    }

    /// `C_UnwrapKey`: into a secret key of the template's class and type.
    pub(crate) fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        unwrapping_key: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_UNWRAP)?;
            let imp = registry().get(m.mech)?;
            let uk = t
                .object(unwrapping_key)
                .map_err(|_| Error::UnwrappingKeyHandleInvalid(unwrapping_key))?;
            let mut attrs = build_attrs(&template, Origin::Unwrap)?;
            if attrs.get_ulong(CKA_CLASS) != Some(CKO_SECRET_KEY) {
                return Err(Error::TemplateInconsistent(
                    "only secret keys are unwrapped by this token",
                ));
            }
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            let mut value = imp.unwrap(&m, &uk, wrapped).map_err(|e| match e {
                Error::KeyTypeInconsistent => Error::UnwrappingKeyTypeInconsistent,
                Error::EncryptedDataInvalid | Error::DataInvalid => Error::WrappedKeyInvalid,
                Error::EncryptedDataLenRange | Error::DataLenRange => Error::WrappedKeyLenRange,
                e => e,
            })?;
            check_key_size(imp, &m, &uk, &info).map_err(|e| match e {
                Error::KeySizeRange => Error::UnwrappingKeySizeRange,
                e => e,
            })?;
            // RFC 3394 carries whole 8-byte blocks: a key whose length is not
            // a multiple of 8 arrives zero-padded, and CKA_VALUE_LEN says how
            // much of it is the key. Other mechanisms restore the exact length.
            if let Some(len) = attrs.get_ulong(CKA_VALUE_LEN) {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if m.mech == CKM_AES_KEY_WRAP && len < value.len() && value.len() - len < 8 {
                    value.truncate(len);
                }
            }
            attrs.insert(CKA_VALUE, value.to_vec());
            crate::mechanism::symmetric::complete_secret_key(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    /// `C_DeriveKey`: a secret key from a base key.
    pub(crate) fn derive_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        base_key: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_DERIVE)?;
            let imp = registry().get(m.mech)?;
            let base = t
                .object(base_key)
                .map_err(|_| Error::KeyHandleInvalid(base_key))?;
            // A derived key is a secret key; its type defaults to generic
            // secret, as in SoftHSM and kryoptic.
            let mut template = template;
            for (ty, default) in [
                (CKA_CLASS, CKO_SECRET_KEY),
                (CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            ] {
                if !template.iter().any(|a| a.ty == ty) {
                    template.push(Attribute::ulong(ty, default));
                }
            }
            let origin = Origin::Derive {
                always_sensitive: base.flag(CKA_ALWAYS_SENSITIVE),
                never_extractable: base.flag(CKA_NEVER_EXTRACTABLE),
            };
            let mut attrs = build_attrs(&template, origin)?;
            if attrs.get_ulong(CKA_CLASS) != Some(CKO_SECRET_KEY) {
                return Err(Error::TemplateInconsistent("a derived key is a secret key"));
            }
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            imp.derive(&m, &base, &mut attrs)?;
            check_key_size(imp, &m, &base, &info)?;
            crate::mechanism::symmetric::complete_secret_key(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }
}

/// Adds `CKA_CLASS`/`CKA_KEY_TYPE` to a generation template, or checks them.
fn with_class(mut t: Template, class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> Result<Template> {
    for (ty, want) in [(CKA_CLASS, class), (CKA_KEY_TYPE, kt)] {
        match t.iter().find(|a| a.ty == ty) {
            Some(a) if a.as_ulong()? != want => {
                return Err(Error::TemplateInconsistent(
                    "class or key type does not fit the mechanism",
                ))
            }
            Some(_) => {}
            None => t.push(Attribute::ulong(ty, want)),
        }
    }
    Ok(t)
}
