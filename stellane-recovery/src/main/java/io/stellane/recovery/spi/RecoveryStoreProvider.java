package io.stellane.recovery.spi;

import io.stellane.recovery.RecoveryStoreFactory;

/**
 * A named recovery store found through {@link java.util.ServiceLoader}: list the implementing class
 * in {@code META-INF/services/io.stellane.recovery.spi.RecoveryStoreProvider}; it must be public
 * with a public no-argument constructor. A journal storage implements {@link JournalStorageProvider},
 * which is one.
 */
public interface RecoveryStoreProvider extends RecoveryStoreFactory {
    /** The name used in configuration, e.g. {@code "mmap"}. */
    String name();
}
