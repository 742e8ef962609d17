//! The reference-model state machine (chatdesk::testkit::model) on
//! PostgreSQL: random operations compared with the model step by step.

#[test]
fn model_state_machine() {
    if chatdesk_postgres::testing::skip_requested() {
        return;
    }
    chatdesk::testkit::model::run_model(
        || match chatdesk_postgres::testing::temp_store_or_skip() {
            Some(store) => store,
            None => panic!("skipping was not requested"),
        },
        CI_CASES,
    );
}

/// Cases in CI (about 100 steps each; each case opens a fresh schema).
const CI_CASES: u32 = 40;
