"""Secrets encrypted at rest (Fernet): provider API keys in the gateway, webhook signing secrets in the dispatcher.

The key-encryption keys come from a setting holding one Fernet key or several, comma-separated, to rotate them: the
first encrypts, any of them decrypts, so a new key goes first and the old one stays until every row was re-encrypted.
"""

from __future__ import annotations

from typing import Self

from cryptography.fernet import Fernet, MultiFernet


class SecretCipher:
    """Fernet encryption of secrets at rest; several comma-separated KEKs rotate (the first encrypts)."""

    setting = "the encryption key"  # how the setting is named in errors (subclasses name theirs)

    def __init__(self, encryption_keys: str) -> None:
        keys = [k.strip() for k in encryption_keys.split(",") if k.strip()]
        if not keys:
            raise ValueError(f"{self.setting} is required to store secrets (a Fernet key)")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except ValueError as exc:
            raise ValueError(f"{self.setting} is not a valid Fernet key: {exc}") from exc

    @classmethod
    def ephemeral(cls) -> Self:
        """A cipher with a throwaway key (what it encrypts is unreadable after a restart)."""
        return cls(Fernet.generate_key().decode())

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()
