package io.stellane.recovery;

/**
 * A point-in-time view of a store, for metrics. Counters count operations since the store was
 * opened; {@code pending} and {@code quarantinedNow} describe what the store holds now.
 *
 * @param journaled      requests appended since open
 * @param completed      requests completed since open
 * @param attempts       replay attempts recorded since open
 * @param quarantined    requests quarantined since open (explicitly or by running out of attempts)
 * @param pending        requests held now that are neither complete nor quarantined
 * @param quarantinedNow quarantined requests held now
 * @param bytesOnDisk    bytes the store occupies on disk (preallocated segments count in full)
 * @param segments       journal segment files (1 for stores without segments)
 */
public record RecoveryStoreStats(
        long journaled,
        long completed,
        long attempts,
        long quarantined,
        long pending,
        long quarantinedNow,
        long bytesOnDisk,
        int segments) {
}
