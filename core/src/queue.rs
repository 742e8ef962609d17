//! Pure queue rules (see [`crate::guide::queue`]): the wait average, the queue
//! text, and when the queue offline form is available.

use crate::clock::Timestamp;

/// The new SecondsPrAccept after a pick-up whose customer waited `wait`
/// whole seconds: the first pick-up of a topic takes the wait; each later one
/// moves a tenth of the way, rounded half away from zero.
pub(crate) fn next_seconds_pr_accept(old: Option<i32>, wait: i64) -> i32 {
    let wait = wait.clamp(0, i64::from(i32::MAX));
    match old {
        None => i32::try_from(wait).unwrap_or(i32::MAX),
        Some(old) => {
            let diff = wait - i64::from(old);
            // round_half_away_from_zero(diff / 10) in integers.
            let step = if diff >= 0 {
                (diff + 5) / 10
            } else {
                -((-diff + 5) / 10)
            };
            i32::try_from(i64::from(old) + step).unwrap_or(i32::MAX)
        }
    }
}

/// The whole seconds a customer has waited since entering the queue.
pub(crate) fn wait_seconds(now: Timestamp, entered: Option<Timestamp>) -> i64 {
    entered.map_or(0, |e| now.whole_seconds_since(e))
}

/// `{cavw}`: SecondsPrAccept / 60 truncated, as HH:MM with at least two hour digits.
pub(crate) fn format_cavw(seconds_pr_accept: i32) -> String {
    let minutes = seconds_pr_accept.max(0) / 60;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The queue text: `template` with `{cque}` (position, empty when not
/// queued) and `{cavw}` replaced; "" when the custom text is off.
pub(crate) fn queue_text(
    enabled: bool,
    template: &str,
    position: Option<u32>,
    seconds_pr_accept: i32,
) -> String {
    if !enabled {
        return String::new();
    }
    let cque = position.map(|p| p.to_string()).unwrap_or_default();
    template
        .replace("{cque}", &cque)
        .replace("{cavw}", &format_cavw(seconds_pr_accept))
}

/// Whether the queue offline form is available to a queued customer.
pub(crate) fn offline_form_available(
    use_queue_offline_form: bool,
    bot_owned: bool,
    minutes_in_queue: i64,
    time_limit: i32,
    queue_len: u32,
    queue_length_limit: i32,
) -> bool {
    if !use_queue_offline_form || bot_owned {
        return false;
    }
    let by_time = time_limit > 0 && minutes_in_queue >= i64::from(time_limit);
    let by_length = queue_length_limit > 0 && i64::from(queue_len) >= i64::from(queue_length_limit);
    by_time || by_length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_pr_accept_is_the_spec_formula() {
        assert_eq!(next_seconds_pr_accept(None, 42), 42);
        assert_eq!(next_seconds_pr_accept(Some(100), 200), 110);
        assert_eq!(next_seconds_pr_accept(Some(100), 105), 101); // 0.5 → 1
        assert_eq!(next_seconds_pr_accept(Some(100), 95), 99); // -0.5 → -1
        assert_eq!(next_seconds_pr_accept(Some(100), 104), 100); // 0.4 → 0
        assert_eq!(next_seconds_pr_accept(Some(100), 0), 90);
        assert_eq!(next_seconds_pr_accept(Some(0), -7), 0);
    }

    #[test]
    fn queue_text_placeholders() {
        assert_eq!(queue_text(false, "{cque}", Some(3), 600), "");
        assert_eq!(
            queue_text(true, "You are #{cque}, wait ~{cavw}", Some(3), 3725),
            "You are #3, wait ~01:02"
        );
        assert_eq!(queue_text(true, "[{cque}]", None, 0), "[]");
        assert_eq!(format_cavw(100 * 3600 + 59), "100:00");
    }

    #[test]
    fn offline_form_conditions() {
        assert!(!offline_form_available(false, false, 99, 1, 99, 1));
        assert!(!offline_form_available(true, true, 99, 1, 99, 1));
        assert!(!offline_form_available(true, false, 99, 0, 99, 0));
        assert!(offline_form_available(true, false, 5, 5, 0, 0));
        assert!(!offline_form_available(true, false, 4, 5, 0, 0));
        assert!(offline_form_available(true, false, 0, 0, 3, 3));
        assert!(!offline_form_available(true, false, 0, 0, 2, 3));
    }
}
