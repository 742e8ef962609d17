//! The shared conformance suite: every behaviour is a test function
//! here, written once against the service and a fresh storage; every backend
//! runs them all through [`conformance_suite!`](crate::conformance_suite).
//! Not semver-stable: enable the `testkit` feature only in dev-dependencies.
#![allow(missing_docs, clippy::missing_panics_doc, clippy::unwrap_used)]

pub mod bad_input;
pub mod busy_desk;
pub mod capture;
pub mod concurrency;
pub mod damaged;
pub mod estimate;
pub mod feed;
pub mod feed_live;
pub mod fixture;
pub mod hours;
pub mod lifecycle;
pub mod lifecycle_table;
pub mod messages;
pub mod model;
pub mod observe;
pub mod queries;
pub mod report;
pub mod rights;
pub mod rng;
pub mod routing_live;
pub mod routing;
pub mod routing_assign;
pub mod routing_choice;
pub mod routing_explain;
pub mod routing_pass;
pub mod routing_sweep;
pub mod save;
pub mod sessions;
pub mod storage;
pub mod storage_routing;
pub mod stress;
pub mod sweeps;
pub mod topics;
pub mod workload;

pub use fixture::{Fixture, dump};

/// For the benchmark that bounds what tracing costs an operation: opens the
/// same span a public operation opens (and makes the same checks its events
/// make), until the returned guard is dropped. Wrapping an operation in it
/// doubles the tracing work; the difference in time is that work's cost.
pub fn trace_again(
    op: &'static str,
    caller: &crate::Caller,
    session: Option<crate::SessionId>,
) -> TraceAgain {
    TraceAgain(crate::service::trace_again(op, caller, session))
}

/// The guard of [`trace_again`].
#[derive(Debug)]
pub struct TraceAgain(#[allow(dead_code)] crate::service::TraceGuard);

/// Domain rules that benchmark baselines recompute by hand (the raw
/// baselines must write the same values the service writes).
pub mod rules {
    /// The topic's new SecondsPrAccept after a pick-up that waited `wait` seconds.
    pub fn next_seconds_pr_accept(old: Option<i32>, wait: i64) -> i32 {
        crate::queue::next_seconds_pr_accept(old, wait)
    }

    /// The lowest positive rank not in `in_use`.
    pub fn lowest_free_rank(in_use: impl IntoIterator<Item = i32>) -> i32 {
        crate::rank::lowest_free_rank(in_use)
    }
}

/// Expands to one `#[test]` per conformance test, each opening a fresh store
/// with `$open` (an expression giving an `impl Storage`).
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::conformance_suite!(@tests $open;
            storage::reads_see_own_writes,
            storage::failed_closure_leaves_nothing,
            storage::ids_are_sequential_per_kind,
            storage::indexes_follow_session_changes,
            storage::delete_session_removes_messages,
            storage::sessions_cross_open_and_ended,
            storage::active_ranks_and_queue_counts,
            storage::a_queued_session_moves_within_its_topic,
            storage::messages_in_id_order_and_replaced,
            storage::readers_see_committed_snapshots,
            storage_routing::transfers_follow_session_changes,
            storage_routing::agents_round_trip,
            storage_routing::sessions_requested_by_time,
            storage_routing::routing_fields_round_trip,
            topics::topic_ids_start_at_one_and_zero_creates,
            topics::topic_save_refusals,
            topics::topic_and_presence_lengths,
            topics::topic_views_per_caller,
            topics::topic_delete_rules,
            topics::membership_rules,
            topics::presence_defaults_and_rights,
            topics::opening_hours_basic,
            sessions::first_status_rules,
            report::desk_report_counts_a_day_by_hand,
            estimate::wait_estimates_follow_position_and_recent_service,
            estimate::wait_estimate_without_history_says_so,
            estimate::recent_service_is_reused_for_ten_seconds,
            report::desk_report_buckets_by_local_hour,
            report::desk_report_rights_and_refusals,
            report::desk_report_as_csv_and_json,
            sessions::required_fields_and_consent,
            sessions::field_lengths_refused,
            sessions::session_key_only_at_create,
            sessions::queue_sequence_and_positions,
            sessions::bot_sessions_are_not_in_the_human_queue,
            sessions::session_rights_per_caller,
            sessions::create_refusals,
            sessions::carrier_times_in_caller_zone,
            sessions::queue_text_placeholders,
            sessions::a_customer_polling_their_position_is_not_dead,
            save::save_session_rules,
            queries::session_lists_per_caller,
            queries::paged_session_query,
            rights::session_rights_table,
            hours::opening_hours_across_dst_changes,
            hours::opening_hours_days_lunch_and_midnight,
            concurrency::parallel_creates_get_distinct_ids_and_positions,
            concurrency::parallel_raw_writers_lose_nothing,
            lifecycle_table::lifecycle_table_outcomes,
            lifecycle::pick_up_side_effects_and_welcome,
            lifecycle::seconds_pr_accept_ewma,
            lifecycle::ranks_lowest_free_across_topics,
            lifecycle::queue_positions_and_initial_pos,
            lifecycle::pick_up_first_order,
            lifecycle::reset_and_bot_hand_off,
            lifecycle::queue_offline_form_conditions,
            lifecycle::transfer_accept_reject_flow,
            lifecycle::close_reopen_finish,
            lifecycle::delete_and_purge,
            lifecycle::pre_chat_and_faq_steps,
            messages::message_type_and_author_per_caller,
            messages::message_special_types_and_limits,
            messages::first_last_message_and_when_idle,
            messages::message_status_changes,
            messages::read_by_customer_and_when_fetched,
            messages::fetch_after_and_limit,
            messages::transcript_text_and_html,
            messages::transcript_lines_cannot_be_forged,
            messages::typing_is_ephemeral,
            sweeps::alert_levels_in_the_human_queue,
            sweeps::alert_levels_for_unanswered_customers,
            sweeps::idle_sweep_closes_idle_chats,
            sweeps::idle_sweep_closes_when_the_customer_is_gone,
            sweeps::sweeps_cover_more_than_one_batch,
            sweeps::idle_sweep_routes_once_per_batch,
            sweeps::idle_sweep_batches_mix_statuses,
            busy_desk::agents_and_customers_in_parallel,
            stress::eight_threads_keep_invariants,
            bad_input::json_and_masks_never_panic,
            bad_input::every_entry_point_refuses_cleanly,
            observe::spans_name_the_operation_and_never_the_key_or_text,
            feed::feed_is_off_by_default_and_the_switch_is_in_the_store,
            feed::feed_events_for_a_chat,
            feed::feed_events_for_forms_bot_reset_and_sweeps,
            feed::topic_delete_writes_a_deleted_event_per_session,
            feed::failed_operations_add_no_events,
            feed_live::cursors_resume_and_pruning_keeps_the_rest,
            feed_live::eight_writers_give_a_gap_free_feed_with_every_acknowledged_event,
            feed_live::wait_for_events_wakes_after_a_commit,
            feed_live::webhook_json_has_superoffice_envelope,
            feed_live::message_hook_rewrites_and_rejects,
            feed_live::reentrant_call_from_the_hook_is_conflict,
            feed_live::hook_calling_a_second_instance_is_conflict_not_deadlock,
            routing_live::eight_threads_keep_the_routing_invariant,
            routing::routing_settings_defaults_rights_and_ranges,
            routing::routing_settings_leave_the_topic_carrier_alone,
            routing::routing_carriers_json,
            routing::agent_capacity_rights_and_range,
            routing_explain::load_capacity_and_eligibility,
            routing_explain::manual_paths_ignore_capacity_and_presence,
            routing_explain::explain_routing_rights_and_fields,
            routing_assign::routed_assignment_is_a_pick_up,
            routing_pass::pass_runs_after_queue_entries,
            routing_pass::pass_runs_when_a_load_falls,
            routing_pass::pass_runs_when_an_agent_becomes_eligible,
            routing_choice::pass_order_over_auto_topics,
            routing_choice::least_busy_tie_breaks,
            routing_choice::longest_idle_tie_breaks,
            routing_choice::one_pass_spreads_waiting_sessions,
            routing_assign::routed_welcome_skips_the_hook_and_events_follow,
            routing_pass::manual_topics_and_bot_sessions_are_not_routed,
            routing_sweep::answer_timeout_requeues_in_place,
            routing_sweep::exclusion_survives_reset_and_ends_with_the_session,
            routing_sweep::answer_timeout_only_for_routed_sessions_of_auto_topics,
            routing_sweep::transfer_timeout_rejects_as_the_target,
            routing_sweep::routing_sweep_order_and_rights,
            routing_sweep::routing_sweep_covers_more_than_one_batch,
        );
    };
    (@tests $open:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::testkit::$module::$name($open)
            }
        )*
    };
}

#[cfg(test)]
mod memory_suite {
    crate::conformance_suite!(crate::MemoryStorage::new());
}

#[cfg(test)]
mod memory_model {
    #[test]
    fn model_state_machine() {
        crate::testkit::model::run_model(crate::MemoryStorage::new, 1000);
    }
}
