package org.elasticsearch.plugins;

import org.elasticsearch.common.settings.Settings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A plugins service whose plugins are classes already on the JVM classpath.
 *
 * <p>A packaged Elasticsearch loads its modules from {@code modules/<name>/} directories, each in
 * its own module layer. The lab node has no distribution, only jars from Maven Central on one
 * classpath, so it instantiates the plugin classes it is given directly. It lives in this package
 * because {@link PluginsService.LoadedPlugin} and {@link PluginsService#loadPlugin} are
 * package-private.
 */
public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> loaded;

    public ClasspathPluginsService(Settings settings, Path configPath, Collection<Class<? extends Plugin>> pluginClasses) {
        // An empty loader: the superclass then finds no bundles on disk, and plugins() below is the
        // only source of plugins.
        super(settings, configPath, PluginsLoader.createPluginsLoader(java.util.Set.of(), java.util.Set.of(), Map.of(), false));
        List<LoadedPlugin> plugins = new ArrayList<>(pluginClasses.size());
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin plugin = loadPlugin(pluginClass, settings, configPath);
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin of the Tulou lab node",
                "NA",
                org.elasticsearch.Build.current().version(),
                "17",
                pluginClass.getName(),
                null,
                List.of(),
                false,
                false,
                false,
                false
            );
            plugins.add(new LoadedPlugin(descriptor, plugin, pluginClass.getClassLoader()));
        }
        this.loaded = Collections.unmodifiableList(plugins);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
