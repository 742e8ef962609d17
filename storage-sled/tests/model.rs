//! The reference-model state machine (chatdesk::testkit::model) on sled:
//! random operations compared with the model step by step. CI runs a
//! bounded number of cases; `CHATDESK_LONG=1` runs at least 10⁶ steps.

#[test]
fn model_state_machine() {
    chatdesk::testkit::model::run_model(chatdesk_sled::testing::temp_store, CI_CASES);
}

/// Cases in CI (about 100 steps each).
const CI_CASES: u32 = 500;
