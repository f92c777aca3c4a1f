package io.stellane.recovery;

/** Opens a recovery store; registered under a name with {@link RecoveryStores#register}. */
@FunctionalInterface
public interface RecoveryStoreFactory {
    /**
     * Opens (creating if needed) the store at {@code config.path()} and rebuilds its state.
     *
     * @throws RecoveryException if it cannot
     */
    RecoveryStore create(RecoveryStoreConfig config);
}
