package io.stellane.recovery;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A journaled request that has not completed, as found by {@link RecoveryStore#pending()} or
 * {@link RecoveryStore#quarantined()}. Immutable.
 *
 * @param request               the request as journaled
 * @param attempts              replay attempts recorded so far (0 = never replayed)
 * @param lastFailureReason     the reason given to the last {@link RecoveryStore#recordAttempt}, or {@code null}
 * @param customData            merged {@link RecoveryStore#putCustomData} maps, in insertion order
 * @param previousShutdownClean whether the run that left this request pending ended with
 *                              {@link RecoveryStore#markCleanShutdown()}
 * @param quarantineReason      why it was quarantined; {@code null} for pending requests
 * @param quarantinedAt         when it was quarantined; {@code null} for pending requests
 */
public record PendingRequest(
        JournaledRequest request,
        int attempts,
        String lastFailureReason,
        Map<String, String> customData,
        boolean previousShutdownClean,
        String quarantineReason,
        Instant quarantinedAt) {

    /** Reported by {@link #failureReason()} when the previous run did not shut down cleanly. */
    public static final String PROCESS_CRASHED = "process crashed";
    /** Reported by {@link #failureReason()} when the request was still running at a clean shutdown. */
    public static final String INTERRUPTED_BY_SHUTDOWN = "interrupted by shutdown";

    public PendingRequest {
        Objects.requireNonNull(request, "request");
        customData = customData.isEmpty() ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(customData));
    }

    /** Shortcut for {@code request().requestId()}. */
    public String requestId() {
        return request.requestId();
    }

    /**
     * Why the request needs a replay now: {@value #PROCESS_CRASHED} unless the previous run shut
     * down cleanly, else {@value #INTERRUPTED_BY_SHUTDOWN}. The reason recorded for an earlier
     * attempt is {@link #lastFailureReason()}.
     */
    public String failureReason() {
        return previousShutdownClean ? INTERRUPTED_BY_SHUTDOWN : PROCESS_CRASHED;
    }

    /** Whether the request is quarantined (a dead letter) rather than pending. */
    public boolean isQuarantined() {
        return quarantineReason != null;
    }
}
