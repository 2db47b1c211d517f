//! Every JSON request body the server reads, as `JsonBody<T>` reads it
//! (`serde_json::from_slice`): no panic, and an accepted body survives the
//! round trip the client makes (serialize, parse again, serialize: the same
//! JSON), so the server and `latchkey-client` agree on every shape.
#![no_main]

use latchkey_api_types::runloop::{ApiKeyCreateParameters, RestrictedKeyCreateParameters};
use latchkey_api_types::runtype::{CreateProduct, CreateSurface, CreateSurfaceKey};
use latchkey_api_types::secrets::{CreateSshKey, PutSecret};
use latchkey_api_types::{
    AcceptInvitation, CreateApiKey, CreateInvitation, CreateOrg, CreateProject, Login, RotateApiKey, SignUp, SwitchOrg,
    TransferApiKey, UpdateApiKey, UpdateMember, UpdateOrg, UpdateProject, VerifyKey,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: Serialize + DeserializeOwned>(body: &[u8]) {
    let Ok(parsed) = serde_json::from_slice::<T>(body) else { return };
    let first = serde_json::to_value(&parsed).expect("an accepted body serializes");
    let again: T = serde_json::from_value(first.clone()).expect("a serialized body parses again");
    let second = serde_json::to_value(&again).expect("serializes again");
    assert_eq!(first, second, "{}", std::any::type_name::<T>());
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 22 {
        0 => round_trip::<CreateApiKey>(body),
        1 => round_trip::<UpdateApiKey>(body),
        2 => round_trip::<RotateApiKey>(body),
        3 => round_trip::<TransferApiKey>(body),
        4 => round_trip::<VerifyKey>(body),
        5 => round_trip::<CreateProject>(body),
        6 => round_trip::<UpdateProject>(body),
        7 => round_trip::<CreateOrg>(body),
        8 => round_trip::<UpdateOrg>(body),
        9 => round_trip::<SwitchOrg>(body),
        10 => round_trip::<UpdateMember>(body),
        11 => round_trip::<CreateInvitation>(body),
        12 => round_trip::<SignUp>(body),
        13 => round_trip::<Login>(body),
        14 => round_trip::<PutSecret>(body),
        15 => round_trip::<CreateSshKey>(body),
        16 => round_trip::<ApiKeyCreateParameters>(body),
        17 => round_trip::<RestrictedKeyCreateParameters>(body),
        18 => round_trip::<CreateProduct>(body),
        19 => round_trip::<CreateSurface>(body),
        20 => round_trip::<CreateSurfaceKey>(body),
        _ => round_trip::<AcceptInvitation>(body),
    }
});
