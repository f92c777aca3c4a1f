package io.stellane.dashboard;

/**
 * Totals of request recovery, as the dashboard shows them (the same events as
 * {@link io.stellane.metrics.RecoveryMetrics}).
 *
 * @param journaled    requests written to the journal before their handler ran
 * @param completed    journaled requests that finished normally
 * @param recovered    requests replayed successfully after a restart
 * @param failed       recovery attempts that failed
 * @param quarantined  requests that used up their attempts
 * @param journalBytes size of the journal
 */
public record RecoveryCounts(long journaled, long completed, long recovered, long failed, long quarantined,
                             long journalBytes) {
}
