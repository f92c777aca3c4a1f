/** The RocksDB journal storage, found as the provider {@code rocksdb}; exports nothing. */
module io.stellane.recovery.rocksdb {
    requires io.stellane.recovery;
    requires rocksdbjni;

    provides io.stellane.recovery.spi.RecoveryStoreProvider with io.stellane.recovery.rocksdb.RocksDbStorageProvider;
}
