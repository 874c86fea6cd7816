# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where keelson keeps the credentials it generates: one interface, get / put / get_or_create.

Backends: ``vault_file`` (an ansible-vault encrypted YAML mapping beside the inventory, never written or
kept decrypted on disk) and ``hashicorp_vault`` (KV version 2 through hvac: one secret per name under the
configured path, ``{"value": ...}``; token or AppRole login).
Values are generated once with a cryptographically strong source and reused on every later run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import string
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Final, Optional, Protocol

import yaml
from ansible.errors import AnsibleError
from ansible.parsing.vault import AnsibleVaultFormatError, is_encrypted

from ansible_collections.keelson.platform.plugins.module_utils._formats import check_secret_key
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils._files import describe_os_error, write_atomic

ALPHABETS: Final[dict[str, str]] = {
    "alnum": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
}


class SecretsError(KeelsonError):
    """The secrets backend cannot do what was asked."""


def generate(length: int, alphabet: str = "alnum") -> str:
    """A random string from the OS's cryptographically strong source."""
    if alphabet not in ALPHABETS:
        raise SecretsError(f"unknown alphabet {alphabet!r} (known: {', '.join(ALPHABETS)})")
    if not 16 <= length <= 4096:
        raise SecretsError(f"a generated secret must be 16 to 4096 characters long (got {length})")
    chars = ALPHABETS[alphabet]
    return "".join(secrets.choice(chars) for _index in range(length))


def check_name(name: str) -> None:
    if check_secret_key(name) is not None:
        raise SecretsError(f"secret name {name!r}: use lowercase letters, digits, '.', '_' and '-'")


class Backend(Protocol):
    """What every secrets backend offers."""

    path: str

    def names(self) -> list[str]: ...

    def get(self, name: str) -> Optional[str]: ...

    def put(self, name: str, value: str, check_mode: bool = False) -> bool: ...

    def get_or_create(self, name: str, create: Callable[[], str], check_mode: bool = False) -> tuple[str, bool]: ...

    def delete(self, name: str, check_mode: bool = False) -> bool: ...

    def close(self) -> None: ...


class VaultFileBackend:
    """An ansible-vault encrypted YAML mapping of name -> value, mode 0600, created on first write."""

    def __init__(self, path: str, encrypt: Callable[[bytes], bytes], decrypt: Callable[[bytes], bytes]) -> None:
        self.path = path
        self._encrypt = encrypt
        self._decrypt = decrypt

    def _os_error(self, error: OSError, doing: str) -> SecretsError:
        # os.makedirs meets a file where a folder must be as "exists" (the file) or "not a directory" (below it).
        folder = isinstance(error, (FileExistsError, NotADirectoryError))
        reason = "a file stands where a folder must be" if folder else describe_os_error(error)
        return SecretsError(
            f"{self.path}: cannot {doing} the secrets file ({reason}); fix the path (secrets.vault_file.path, "
            "relative to the inventory folder) or what stands in its way, and run again"
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(directory, os.O_RDONLY)
        except OSError as error:
            raise self._os_error(error, "make the folder of") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self) -> dict[str, str]:
        if not os.path.lexists(self.path):
            return {}
        try:
            if not os.path.isfile(self.path):
                raise SecretsError(
                    f"{self.path}: is not a file (a folder, or something else stands there); secrets.vault_file.path must "
                    "name the ansible-vault file keelson keeps the credentials in"
                )
            with open(self.path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise self._os_error(error, "read") from error
        if not is_encrypted(data):
            raise SecretsError(f"{self.path} is not ansible-vault encrypted; keelson never keeps secrets in plain text")
        try:
            plaintext = self._decrypt(data)
        except AnsibleVaultFormatError as error:
            raise SecretsError(
                f"{self.path}: is damaged (not a whole ansible-vault file: truncated, or edited by hand); restore it from "
                "your backup or from Git (where it is committed encrypted)"
            ) from error
        except AnsibleError as error:
            raise SecretsError(
                f"{self.path}: cannot be decrypted with the vault password given (a wrong password, or a damaged file); run "
                "with the password the file was made with (--vault-password-file FILE), or restore the file from your backup"
            ) from error
        try:
            values = yaml.safe_load(plaintext) or {}
        except yaml.YAMLError as error:
            raise SecretsError(f"{self.path}: decrypts, but not to YAML; restore the file from your backup") from error
        if not isinstance(values, dict):
            raise SecretsError(f"{self.path} does not hold a mapping of secret names to values")
        return {str(key): str(value) for key, value in values.items()}

    def _save(self, values: dict[str, str]) -> None:
        plaintext = yaml.safe_dump(dict(sorted(values.items())), default_flow_style=False).encode()
        try:
            write_atomic(self.path, self._encrypt(plaintext), mode=0o600, sync=True)
        except OSError as error:
            raise self._os_error(error, "write") from error

    def close(self) -> None:
        """Nothing to release: the file is read and written whole on every call."""

    def names(self) -> list[str]:
        return sorted(self._load())

    def get(self, name: str) -> Optional[str]:
        check_name(name)
        return self._load().get(name)

    def put(self, name: str, value: str, check_mode: bool = False) -> bool:
        """Store ``value``; True when that changed the backend."""
        name, value = str.__str__(name), str.__str__(value)  # plain str: Ansible may hand over tagged strings
        check_name(name)
        with self._locked():
            values = self._load()
            if values.get(name) == value:
                return False
            if not check_mode:
                values[name] = value
                self._save(values)
            return True

    def get_or_create(self, name: str, create: Callable[[], str], check_mode: bool = False) -> tuple[str, bool]:
        """The stored value, or a new one from ``create`` stored now; and whether it was created."""
        name = str.__str__(name)
        check_name(name)
        with self._locked():
            values = self._load()
            if name in values:
                return values[name], False
            value = create()
            if not check_mode:
                values[name] = value
                self._save(values)
            return value, True

    def delete(self, name: str, check_mode: bool = False) -> bool:
        """Remove ``name``; True when it was there (and so the backend changed)."""
        name = str.__str__(name)
        check_name(name)
        with self._locked():
            values = self._load()
            if name not in values:
                return False
            if not check_mode:
                del values[name]
                self._save(values)
            return True


class HashicorpVaultBackend:
    """KV version 2 in HashiCorp Vault: ``<mount>/data/<path>/<name>`` holds ``{"value": <secret>}``."""

    def __init__(self, settings: dict[str, Any], environ: Mapping[str, str]) -> None:
        try:
            import hvac  # noqa: PLC0415 - optional: only this backend needs it
            from hvac import exceptions as hvac_exceptions  # noqa: PLC0415
        except ImportError as error:
            raise SecretsError("the hashicorp_vault backend needs the Python library hvac on the controller (pip install hvac)") from error
        self._missing = (hvac_exceptions.InvalidPath,)
        self._errors = (hvac_exceptions.VaultError,)
        self.mount = settings["mount"]
        self.prefix = settings["path"]
        self.path = f"{settings['url'].rstrip('/')}/v1/{self.mount}/data/{self.prefix}"
        self._ca_file = None
        verify: Any = True
        if settings.get("ca_cert"):
            handle = tempfile.NamedTemporaryFile("w", prefix="keelson-vault-ca-", suffix=".pem", delete=False)  # noqa: SIM115
            with handle:
                handle.write(settings["ca_cert"])
            self._ca_file = verify = handle.name
        self.client = hvac.Client(url=settings["url"], namespace=settings.get("namespace"), verify=verify)
        try:
            if settings["auth_method"] == "approle":
                secret_id = environ.get("VAULT_SECRET_ID")
                if not secret_id:
                    raise SecretsError(
                        "the hashicorp_vault backend with auth_method approle reads the secret id from VAULT_SECRET_ID, which is not set"
                    )
                self.client.auth.approle.login(role_id=settings["role_id"], secret_id=secret_id)
            else:
                token = environ.get("VAULT_TOKEN")
                if not token:
                    raise SecretsError(
                        "the hashicorp_vault backend with auth_method token reads the token from VAULT_TOKEN, which is not set"
                    )
                self.client.token = token
        except self._errors as error:
            raise SecretsError(f"cannot log in to Vault at {settings['url']}: {error}") from error

    def close(self) -> None:
        if self._ca_file:
            os.unlink(self._ca_file)
            self._ca_file = None

    def _call(self, action: str, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except self._missing:
            return None
        except self._errors as error:
            raise SecretsError(f"Vault refused to {action} ({self.path}): {error}") from error
        except OSError as error:
            raise SecretsError(f"cannot reach Vault to {action} ({self.path}): {error}") from error

    def names(self) -> list[str]:
        listed = self._call("list secrets", lambda: self.client.secrets.kv.v2.list_secrets(path=self.prefix, mount_point=self.mount))
        return sorted(listed["data"]["keys"]) if listed else []

    def get(self, name: str) -> Optional[str]:
        check_name(name)
        read = self._call(
            f"read {name}",
            lambda: self.client.secrets.kv.v2.read_secret_version(
                path=f"{self.prefix}/{name}", mount_point=self.mount, raise_on_deleted_version=True
            ),
        )
        return None if read is None else str(read["data"]["data"]["value"])

    def _write(self, name: str, value: str, cas: Optional[int]) -> None:
        self._call(
            f"write {name}",
            lambda: self.client.secrets.kv.v2.create_or_update_secret(
                path=f"{self.prefix}/{name}", secret={"value": value}, cas=cas, mount_point=self.mount
            ),
        )

    def put(self, name: str, value: str, check_mode: bool = False) -> bool:
        name, value = str.__str__(name), str.__str__(value)
        if self.get(name) == value:
            return False
        if not check_mode:
            self._write(name, value, None)
        return True

    def get_or_create(self, name: str, create: Callable[[], str], check_mode: bool = False) -> tuple[str, bool]:
        name = str.__str__(name)
        current = self.get(name)
        if current is not None:
            return current, False
        value = create()
        if not check_mode:
            # Check-and-set 0: only if nobody created it in the meantime; then read what won.
            try:
                self._write(name, value, 0)
            except SecretsError:
                winner = self.get(name)
                if winner is None:
                    raise
                return winner, False
        return value, True

    def delete(self, name: str, check_mode: bool = False) -> bool:
        """Remove ``name`` with every version of it (its metadata: KV 2 keeps deleted versions otherwise); True
        when it was there."""
        name = str.__str__(name)
        check_name(name)
        # Its metadata, not its value: a soft-deleted newest version (vault kv delete) reads as missing while the
        # older versions are still there.
        found = self._call(
            f"read the metadata of {name}",
            lambda: self.client.secrets.kv.v2.read_secret_metadata(path=f"{self.prefix}/{name}", mount_point=self.mount),
        )
        if found is None:
            return False
        if not check_mode:
            self._call(
                f"delete {name}",
                lambda: self.client.secrets.kv.v2.delete_metadata_and_all_versions(path=f"{self.prefix}/{name}", mount_point=self.mount),
            )
        return True


def backend_from_spec(
    secrets_spec: dict[str, Any],
    base_dir: str,
    encrypt: Callable[[bytes], bytes],
    decrypt: Callable[[bytes], bytes],
    environ: Optional[Mapping[str, str]] = None,
) -> Backend:
    """The backend the normalised spec's ``secrets`` section selects."""
    kind = secrets_spec.get("backend")
    if kind == "vault_file":
        path = secrets_spec["vault_file"]["path"]
        return VaultFileBackend(path if os.path.isabs(path) else os.path.join(base_dir, path), encrypt, decrypt)
    if kind == "hashicorp_vault":
        return HashicorpVaultBackend(secrets_spec["hashicorp_vault"], os.environ if environ is None else environ)
    raise SecretsError(f"unknown secrets backend {kind!r}")
