/**
 * Request recovery: the journal of requests in flight, replayed after a crash. Exports the API and the
 * storage SPI; the storages (mmap, memory) are found through their providers.
 */
module io.stellane.recovery {
    requires transitive io.stellane.core;

    exports io.stellane.recovery;
    exports io.stellane.recovery.spi;
    // how records are encoded and sealed: shared with the storage modules, not an extension point
    exports io.stellane.recovery.internal to io.stellane.recovery.rocksdb, io.stellane.cluster;

    uses io.stellane.recovery.spi.RecoveryStoreProvider;
    provides io.stellane.recovery.spi.RecoveryStoreProvider with
            io.stellane.recovery.mmap.MmapStorageProvider, io.stellane.recovery.memory.MemoryStorage.Provider;
}
