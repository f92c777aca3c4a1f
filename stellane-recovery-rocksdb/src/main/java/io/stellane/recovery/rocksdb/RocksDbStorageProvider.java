package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.JournalStorage;
import io.stellane.recovery.spi.JournalStorageProvider;

/** The RocksDB journal storage, as {@code "rocksdb"}. */
public final class RocksDbStorageProvider implements JournalStorageProvider {
    public static final String NAME = "rocksdb";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public JournalStorage open(RecoveryStoreConfig config) {
        return new RocksDbStorage(config);
    }
}
