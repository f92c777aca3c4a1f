package io.stellane.recovery.spi;

import io.stellane.recovery.RecoveryStoreFactory;

/**
 * A recovery store backend found through {@link java.util.ServiceLoader}: list the implementing
 * class in {@code META-INF/services/io.stellane.recovery.spi.RecoveryStoreProvider}. It must be
 * public with a public no-argument constructor. {@link io.stellane.recovery.RecoveryStores}
 * registers it under {@link #name()} unless that name was registered explicitly.
 */
public interface RecoveryStoreProvider extends RecoveryStoreFactory {
    /** The backend name used in configuration, e.g. {@code "mmap"}. */
    String name();
}
