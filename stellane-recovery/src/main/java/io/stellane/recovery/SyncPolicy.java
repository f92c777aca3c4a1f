package io.stellane.recovery;

/**
 * When a store forces journaled data to stable storage. Every policy survives the death of the
 * process (kill -9, OOM, a crash in native code): with the mmap store the written pages belong to
 * the kernel's page cache the moment the write instruction retires, and the RocksDB store hands
 * every write to the kernel before returning. The policies differ only on power loss or a kernel
 * crash. {@link RecoveryStore#recordAttempt} and {@link RecoveryStore#markCleanShutdown()} are
 * forced under every policy.
 */
public enum SyncPolicy {
    /**
     * Never force, except for attempts, quarantines, the clean-shutdown marker, compaction and
     * close. On power loss, anything written since the kernel last flushed on its own (typically
     * up to 30 s, per {@code vm.dirty_expire_centisecs}) can be lost.
     */
    NONE,
    /**
     * Group commit: one background thread forces everything written every
     * {@link RecoveryStoreConfig#syncInterval()}. On power loss at most the last interval of
     * acknowledged appends (plus the force itself) can be lost; with the mmap store the last two
     * intervals, since it forces the segment being written one interval behind (see its docs).
     * Appends never wait for a force.
     */
    INTERVAL,
    /**
     * Force every record before the call that wrote it returns: every acknowledged append survives
     * power loss, at the price of one {@code msync}/{@code fsync} per call.
     */
    ALWAYS
}
