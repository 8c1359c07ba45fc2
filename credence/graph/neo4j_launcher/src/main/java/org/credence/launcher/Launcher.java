package org.credence.launcher;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.annotation.Annotation;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.kernel.api.procedure.GlobalProcedures;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.procedure.Procedure;
import org.neo4j.procedure.UserAggregationFunction;
import org.neo4j.procedure.UserFunction;

/**
 * Starts an embedded Neo4j DBMS for Credence's development and tests.
 *
 * <p>Usage: {@code --home DIR --bolt-port N [--page-cache 512m]}.
 *
 * <p>The DBMS keeps its data and logs under {@code DIR}; only Bolt is enabled, on
 * {@code 127.0.0.1:N}, with authentication disabled and the Graph Data Science
 * procedures ({@code gds.*}) unrestricted. When Bolt accepts connections the launcher
 * prints exactly one line, {@code CREDENCE_NEO4J_READY bolt://127.0.0.1:N}, to stdout.
 * Nothing else is written to stdout. SIGTERM (or SIGINT) shuts the DBMS down cleanly
 * through a shutdown hook. On a startup failure it writes the reason to stderr and
 * exits with status 1 (2 for bad arguments).
 */
public final class Launcher {

    /** The readiness marker the Python side waits for. */
    public static final String READY = "CREDENCE_NEO4J_READY";

    private static final String HOST = "127.0.0.1";

    private Launcher() {
    }

    public static void main(String[] args) {
        long started = System.currentTimeMillis();
        // Keep stdout for the READY line only: anything a library prints goes to stderr.
        PrintStream stdout = System.out;
        System.setOut(System.err);

        Path home = null;
        int port = -1;
        String pageCache = "512m";
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--home" -> home = Path.of(value(args, ++i, a)).toAbsolutePath();
                    case "--bolt-port" -> port = Integer.parseInt(value(args, ++i, a));
                    case "--page-cache" -> pageCache = value(args, ++i, a);
                    case "-h", "--help" -> {
                        usage(System.err);
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("unknown argument: " + a);
                }
            }
            if (home == null) {
                throw new IllegalArgumentException("--home is required");
            }
            if (port <= 0 || port > 65535) {
                throw new IllegalArgumentException("--bolt-port must be in 1..65535");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("credence-neo4j-launcher: " + e.getMessage());
            usage(System.err);
            System.exit(2);
            return;
        }

        DatabaseManagementService dbms;
        try {
            Files.createDirectories(home);
            Path conf = writeConfig(home, config(home, port, pageCache));
            dbms = new DatabaseManagementServiceBuilder(home)
                    .loadPropertiesFromFile(conf)
                    .build();
        } catch (Throwable t) {
            System.err.println("credence-neo4j-launcher: failed to start Neo4j: " + t);
            t.printStackTrace(System.err);
            System.exit(1);
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("credence-neo4j-launcher: shutting down");
            try {
                dbms.shutdown();
            } catch (Throwable t) {
                t.printStackTrace(System.err);
            } finally {
                stopped.countDown();
            }
            System.err.println("credence-neo4j-launcher: stopped");
        }, "credence-neo4j-shutdown"));

        try {
            registerClasspathProcedures(dbms);
        } catch (Throwable t) {
            System.err.println("credence-neo4j-launcher: failed to register procedures: " + t);
            t.printStackTrace(System.err);
            System.exit(1);
        }

        if (!waitForBolt(port, 60_000)) {
            System.err.println("credence-neo4j-launcher: Bolt did not accept connections on "
                    + HOST + ":" + port);
            System.exit(1);
        }
        long now = System.currentTimeMillis();
        System.err.printf("credence-neo4j-launcher: ready %d ms after JVM start (%d ms in main)%n",
                now - ManagementFactory.getRuntimeMXBean().getStartTime(), now - started);
        stdout.println(READY + " bolt://" + HOST + ":" + port);
        stdout.flush();

        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Map<String, String> config(Path home, int port, String pageCache) {
        Path logs = home.resolve("logs");
        Map<String, String> c = new LinkedHashMap<>();
        c.put("server.default_listen_address", HOST);
        c.put("server.default_advertised_address", HOST);
        c.put("server.bolt.enabled", "true");
        c.put("server.bolt.listen_address", HOST + ":" + port);
        c.put("server.bolt.advertised_address", HOST + ":" + port);
        c.put("server.bolt.tls_level", "DISABLED");
        c.put("server.http.enabled", "false");
        c.put("server.https.enabled", "false");
        c.put("dbms.security.auth_enabled", "false");
        c.put("server.memory.pagecache.size", pageCache);
        c.put("dbms.security.procedures.unrestricted", "gds.*");
        c.put("server.directories.logs", logs.toString());
        // LOAD CSV reads file:/// URLs from here only (benchmarks project GDS graphs from CSV).
        c.put("server.directories.import", home.resolve("import").toString());
        // A dev/test server: keep two transaction-log files, not the default two days.
        c.put("db.tx_log.rotation.retention_policy", "2 files");
        c.put("dbms.usage_report.enabled", "false");
        // Netty's default 5 s quiet period, paid once per Bolt event-loop group, made a
        // SIGTERM take ~12 s; the databases are already stopped when it applies.
        c.put("internal.dbms.bolt.netty_server_shutdown_quiet_period", "0");
        return c;
    }

    /**
     * Registers the procedures and functions that jars on the classpath list in
     * {@code META-INF/services/org.neo4j.procedure.Procedure} and
     * {@code META-INF/services/org.neo4j.procedure.UserFunction} (the GDS modules do).
     *
     * <p>An embedded DBMS only loads procedures from jars in its plugins directory; the
     * GDS jars are on the classpath instead, so their kernel extensions (which register
     * the components the procedures inject) load through the service loader as usual,
     * and their procedure classes are registered here, before READY is printed.
     */
    private static void registerClasspathProcedures(DatabaseManagementService dbms)
            throws Exception {
        Set<String> names = new LinkedHashSet<>();
        names.addAll(serviceEntries("META-INF/services/org.neo4j.procedure.Procedure"));
        names.addAll(serviceEntries("META-INF/services/org.neo4j.procedure.UserFunction"));
        if (names.isEmpty()) {
            return;
        }
        long t0 = System.nanoTime();
        GlobalProcedures procedures = ((GraphDatabaseAPI) dbms.database("system"))
                .getDependencyResolver()
                .resolveDependency(GlobalProcedures.class);
        ClassLoader loader = Launcher.class.getClassLoader();
        int procs = 0;
        int funcs = 0;
        int aggs = 0;
        List<String> failed = new ArrayList<>();
        for (String name : names) {
            try {
                Class<?> cls = Class.forName(name, true, loader);
                if (annotated(cls, Procedure.class)) {
                    procedures.registerProcedure(cls);
                    procs++;
                }
                if (annotated(cls, UserFunction.class)) {
                    procedures.registerFunction(cls);
                    funcs++;
                }
                if (annotated(cls, UserAggregationFunction.class)) {
                    procedures.registerAggregationFunction(cls);
                    aggs++;
                }
            } catch (Throwable t) {
                failed.add(name + ": " + t);
            }
        }
        System.err.printf("credence-neo4j-launcher: registered %d procedure classes, %d function"
                + " classes, %d aggregation classes from %d service entries in %d ms%n",
                procs, funcs, aggs, names.size(), (System.nanoTime() - t0) / 1_000_000);
        for (String f : failed) {
            System.err.println("credence-neo4j-launcher: could not register " + f);
        }
    }

    private static boolean annotated(Class<?> cls, Class<? extends Annotation> annotation) {
        for (Method m : cls.getDeclaredMethods()) {
            if (m.isAnnotationPresent(annotation)) {
                return true;
            }
        }
        return false;
    }

    private static Set<String> serviceEntries(String resource) throws IOException {
        Set<String> out = new LinkedHashSet<>();
        Enumeration<java.net.URL> urls = Launcher.class.getClassLoader().getResources(resource);
        while (urls.hasMoreElements()) {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(
                    urls.nextElement().openStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    int hash = line.indexOf('#');
                    String name = (hash >= 0 ? line.substring(0, hash) : line).trim();
                    if (!name.isEmpty()) {
                        out.add(name);
                    }
                }
            }
        }
        return out;
    }

    /**
     * Writes the settings to {@code DIR/conf/credence-neo4j.conf} (rewritten on every
     * start, so it always shows what the running DBMS was given).
     */
    private static Path writeConfig(Path home, Map<String, String> config) throws IOException {
        Path dir = Files.createDirectories(home.resolve("conf"));
        StringBuilder text = new StringBuilder(
                "# Written by org.credence.launcher.Launcher on every start; edits are lost.\n");
        config.forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
        Path file = dir.resolve("credence-neo4j.conf");
        Files.writeString(file, text.toString());
        return file;
    }

    private static boolean waitForBolt(int port, long timeoutMillis) {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(HOST, port), 1000);
                return true;
            } catch (IOException e) {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return false;
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    private static void usage(PrintStream out) {
        out.println("usage: java -jar credence-neo4j-launcher.jar --home DIR --bolt-port N"
                + " [--page-cache 512m]");
    }
}
