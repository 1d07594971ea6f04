package org.elasticsearch.node;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The Tulou lab node: one Elasticsearch node in this JVM, built from Maven Central jars.
 *
 * <p>Usage: {@code java -cp <jars>:<classes> org.elasticsearch.node.LabNode <home> <http-port>
 * <plugin-class>...}. Everything else is fixed here on purpose (loopback only, single-node
 * discovery, relaxed disk watermarks): this node is for tests and the lab, never production.
 * It prints {@code LABNODE STARTED <version>} once the HTTP port is bound and exits 0 after
 * SIGTERM once the node has closed. It lives in this package because {@link NodeConstruction}
 * and {@link NodeServiceProvider} are package-private.
 */
public final class LabNode extends Node {
    private LabNode(Environment environment, List<Class<? extends Plugin>> pluginClasses) {
        super(NodeConstruction.prepareConstruction(environment, emptyLoader(), new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader loader) {
                return new ClasspathPluginsService(env.settings(), env.configDir(), pluginClasses);
            }
        }, true));
    }

    private static PluginsLoader emptyLoader() {
        return PluginsLoader.createPluginsLoader(java.util.Set.of(), java.util.Set.of(), java.util.Map.of(), false);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: LabNode <home> <http-port> <plugin-class>...");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int httpPort = Integer.parseInt(args[1]);
        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            plugins.add(Class.forName(args[i]).asSubclass(Plugin.class));
        }
        Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("path.repo", home.resolve("snapshots").toString())
            .put("cluster.name", "tulou-lab")
            .put("node.name", "tulou-lab")
            // Loopback only: security is off, so nothing but this machine may reach the node.
            // Binding to loopback also keeps the production bootstrap checks off.
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            // The transport port is never used by clients; let the OS pick one so that two lab
            // nodes (e.g. a test node beside a lab node) never collide.
            .put("transport.port", 0)
            .put("discovery.type", "single-node")
            // Test machines often have nearly full disks; a lab node must not go read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.destructive_requires_name", false)
            // INFO to stdout, which the Python manager sends to node.log.
            .put("logger.level", "INFO")
            .build();

        LogConfigurator.configureESLogging();
        LogConfigurator.setNodeName("tulou-lab");
        LogConfigurator.setClusterName("tulou-lab");
        LogConfigurator.configureWithoutConfig(settings);

        Environment environment = new Environment(settings, home.resolve("config"));
        LabNode node = new LabNode(environment, plugins);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.prepareForClose();
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                System.out.println("LABNODE STOPPED");
                System.out.flush();
                closed.countDown();
            }
        }, "labnode-shutdown"));
        node.start();
        System.out.println("LABNODE STARTED " + Build.current().version());
        System.out.flush();
        closed.await();
    }
}
