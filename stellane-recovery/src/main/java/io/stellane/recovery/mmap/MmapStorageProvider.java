package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.JournalStorage;
import io.stellane.recovery.spi.JournalStorageProvider;

/** The memory-mapped journal storage, as {@code "mmap"}. */
public final class MmapStorageProvider implements JournalStorageProvider {
    public static final String NAME = "mmap";

    private final MmapStorage.Msync msync;

    public MmapStorageProvider() {
        this(Segment::force);
    }

    /** With every force done by {@code msync}: a failing disk in tests. */
    MmapStorageProvider(MmapStorage.Msync msync) {
        this.msync = msync;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public JournalStorage open(RecoveryStoreConfig config) {
        return new MmapStorage(config, msync);
    }
}
