package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.RecoveryStoreProvider;

/** Registers the memory-mapped journal as recovery store {@code "mmap"}. */
public final class MmapRecoveryStoreProvider implements RecoveryStoreProvider {
    public static final String NAME = "mmap";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public RecoveryStore create(RecoveryStoreConfig config) {
        return new MmapRecoveryStore(config);
    }
}
