package io.stellane.server;

/**
 * Every request-recovery test again with a store that asks for grouped journal writes (as the
 * RocksDB store does): appends and completions of a loop turn go to the store together, handlers
 * and responses continue after the group is written.
 */
class GroupedRequestRecoveryTest extends RequestRecoveryTest {
    @Override
    boolean grouped() {
        return true;
    }
}
