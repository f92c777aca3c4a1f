package io.stellane.dashboard;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.util.List;

/**
 * The heap and the collectors at one moment: heap used, committed and max (-1 when undefined), and
 * the collections and collection time so far.
 *
 * <p>Collection time is what the JVM's collector beans report. Where a collector has separate beans
 * for its pauses and its concurrent cycles (ZGC, Shenandoah: "... Pauses" and "... Cycles"), only the
 * pauses count: a cycle runs beside the application and stops nothing. G1's, Parallel's and Serial's
 * beans report stop-the-world time.
 *
 * <p>Reading one goes through the management beans (a few microseconds): done by the dashboard's
 * sampler thread, never on a worker.
 */
record JvmReading(long heapUsed, long heapCommitted, long heapMax, long collections, long collectionMillis) {

    static JvmReading now() {
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
        boolean pauseBeans = gcs.stream().anyMatch(g -> g.getName().endsWith("Pauses"));
        long count = 0, millis = 0;
        for (GarbageCollectorMXBean g : gcs) {
            if (pauseBeans && !g.getName().endsWith("Pauses")) {
                continue;
            }
            count += Math.max(0, g.getCollectionCount()); // -1: this collector does not say
            millis += Math.max(0, g.getCollectionTime());
        }
        return new JvmReading(heap.getUsed(), heap.getCommitted(), heap.getMax(), count, millis);
    }
}
