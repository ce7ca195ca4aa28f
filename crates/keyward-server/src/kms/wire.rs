//! Core's enums in their wire form.

use keyward_core::key::{KeyManager, KeyState as CoreKeyState};
use keyward_protocol::kms::{KeyManagerType, KeyState};

pub(super) fn wire_key_state(state: CoreKeyState) -> KeyState {
    match state {
        CoreKeyState::Enabled => KeyState::Enabled,
        CoreKeyState::Disabled => KeyState::Disabled,
        CoreKeyState::PendingDeletion => KeyState::PendingDeletion,
        CoreKeyState::PendingImport => KeyState::PendingImport,
        CoreKeyState::PendingReplicaDeletion => KeyState::PendingReplicaDeletion,
    }
}

pub(super) fn wire_manager(manager: KeyManager) -> KeyManagerType {
    match manager {
        KeyManager::Customer => KeyManagerType::Customer,
        KeyManager::Aws => KeyManagerType::Aws,
    }
}
