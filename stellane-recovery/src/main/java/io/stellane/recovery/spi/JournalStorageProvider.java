package io.stellane.recovery.spi;

import io.stellane.recovery.Journal;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;

/**
 * A journal storage, by name: list the implementing class in
 * {@code META-INF/services/io.stellane.recovery.spi.RecoveryStoreProvider} (public, with a public
 * no-argument constructor), and {@link io.stellane.recovery.RecoveryStores} opens a
 * {@link Journal} on it under {@link #name()}.
 */
public interface JournalStorageProvider extends RecoveryStoreProvider {

    /**
     * Opens (creating if needed) the storage at {@code config.path()}, which the journal has
     * created owner-only. Fails with {@link io.stellane.recovery.RecoveryException} if the
     * directory is in use, by this process or another.
     */
    JournalStorage open(RecoveryStoreConfig config);

    /** A journal over this storage. */
    @Override
    default RecoveryStore create(RecoveryStoreConfig config) {
        return Journal.open(this, config);
    }
}
