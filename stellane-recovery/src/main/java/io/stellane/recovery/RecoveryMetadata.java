package io.stellane.recovery;

import java.time.Instant;
import java.util.Map;

/**
 * What a recovery hook knows about the request it replays (the spec's {@code RecoveryMetadata}).
 *
 * @param requestId         the journal id, the same on every attempt
 * @param originalTimestamp when the request first arrived
 * @param recoveryTimestamp when this replay started
 * @param attempt           this replay's number, from 1; durably recorded before the replay ran
 * @param maxAttempts       replays allowed before the request is quarantined
 * @param failureReason     why a replay is needed: {@code "process crashed"}, or what the previous attempt threw
 * @param customData        what the handler attached while it ran (journaled)
 */
public record RecoveryMetadata(
        String requestId,
        Instant originalTimestamp,
        Instant recoveryTimestamp,
        int attempt,
        int maxAttempts,
        String failureReason,
        Map<String, String> customData) {

    public RecoveryMetadata {
        customData = Map.copyOf(customData);
    }

    /** Whether this is a retry of a replay that already failed in this run or an earlier one. */
    public boolean isRetry() {
        return attempt > 1;
    }
}
