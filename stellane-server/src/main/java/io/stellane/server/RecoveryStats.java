package io.stellane.server;

/**
 * Request-recovery counters of one server since its recovery manager opened (see
 * {@link Server#recoveryStats()}). Immutable snapshot.
 *
 * @param journaled         requests appended to the journal before their handler ran
 * @param completed         journaled requests marked complete after their handler finished
 * @param recovered         replays that succeeded (in {@link Server#recover()})
 * @param failedAttempts    replays that threw or failed (each retried until {@code maxAttempts})
 * @param quarantined       requests that used up their attempts and were moved to the dead letters
 * @param rejectedFull      requests answered 503 because the journal was full (handler not run)
 * @param journalErrors     requests answered 503 because the journal failed otherwise (handler not run),
 *                          plus completions that failed (those requests will be replayed)
 * @param idempotentReplays requests answered from the stored response of their {@code Idempotency-Key}
 * @param conflicts         requests answered 409 because their {@code Idempotency-Key} was still in flight
 * @param journalBytes      the journal's size on disk now
 */
public record RecoveryStats(long journaled, long completed, long recovered, long failedAttempts, long quarantined,
                            long rejectedFull, long journalErrors, long idempotentReplays, long conflicts,
                            long journalBytes) {
    /** All zero: a server without recovery. */
    public static final RecoveryStats NONE = new RecoveryStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}
