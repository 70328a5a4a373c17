using System.Net;
using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;
using Neotoma.WorkerHost;
using Neotoma.TestSupport;

namespace Neotoma.Tests.WorkerPath;

/// <summary>
/// The worker chooses its own HTTP port (no setting does), and between choosing and binding it
/// another process can take it. The host must see that start fail and start the worker again.
/// </summary>
public sealed class WorkerStartTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task WorkerWhosePortWasTaken_IsStartedAgain_AndServes()
    {
        // The built app, with a worker.config.json whose first start fails as Kestrel does when the
        // port it picked was taken (the real worker cannot be made to pick a taken port), then
        // starts the real worker.
        var app = Directory.CreateTempSubdirectory("neotoma-worker-start-");
        try
        {
            foreach (var entry in new DirectoryInfo(WorkerHostServer.AppDirectory).EnumerateFileSystemInfos().Where(e => e.Name != "worker.config.json"))
            {
                File.CreateSymbolicLink(Path.Combine(app.FullName, entry.Name), entry.FullName);
            }

            await File.WriteAllTextAsync(Path.Combine(app.FullName, "worker.config.json"),
                """{"description":{"language":"dotnet-isolated","defaultExecutablePath":"/bin/sh","defaultWorkerPath":"start-worker.sh"}}""");
            await File.WriteAllTextAsync(Path.Combine(app.FullName, "start-worker.sh"), """
                dir="$(dirname "$0")"
                if [ ! -e "$dir/started-once" ]; then
                  : > "$dir/started-once"
                  echo "Unhandled exception. System.IO.IOException: Failed to bind to address http://localhost:41234: address already in use." >&2
                  exit 134
                fi
                exec dotnet "$dir/Neotoma.Functions.dll" "$@"
                """);
            var port = FreePorts.Next();
            var settings = SelfHostServer.TestSettings(new Uri($"http://127.0.0.1:{port}"));
            settings[SettingNames.DatabaseConnectionString] = database.AppConnectionString;
            var lines = new List<string>();

            await using var host = await FunctionsRpcHost.StartAsync(new FunctionsRpcHostOptions
            {
                AppDirectory = app.FullName,
                Port = port,
                Settings = settings,
                Log = line => { lock (lines) { lines.Add(line.Message); } },
            });
            using var http = new HttpClient { BaseAddress = host.BaseAddress };

            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/health")).StatusCode);
            Assert.True(File.Exists(Path.Combine(app.FullName, "started-once")), "the stand-in's failing start did not run");
            lock (lines)
            {
                Assert.Contains(lines, line => line.StartsWith("Starting the worker again (attempt 2 of 3)", StringComparison.Ordinal) && line.Contains("address already in use"));
            }
        }
        finally
        {
            app.Delete(recursive: true);
        }
    }

    /// <summary>
    /// A deployment with bad settings: the worker, as Azure starts it, refuses to start and says every
    /// bad setting at once, one line each, with the setting's name (what an operator reads in the log stream).
    /// </summary>
    [Fact]
    public async Task WorkerWithBadSettings_RefusesToStart_NamingEveryBadSetting()
    {
        var port = FreePorts.Next();
        var settings = SelfHostServer.TestSettings(new Uri($"http://127.0.0.1:{port}"));
        settings[SettingNames.DatabaseConnectionString] = database.AppConnectionString;
        settings[SettingNames.ApiBase] = "ftp://neotoma.example";
        settings[SettingNames.PersonalTokenMaxDays] = "0";
        var lines = new List<string>();

        var failure = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var host = await FunctionsRpcHost.StartAsync(new FunctionsRpcHostOptions
            {
                AppDirectory = WorkerHostServer.AppDirectory,
                Port = port,
                Settings = settings,
                StartTimeout = TimeSpan.FromSeconds(30),
                Log = line => { lock (lines) { lines.Add(line.Message); } },
            });
        });

        lock (lines)
        {
            var said = string.Join("\n", lines);
            Assert.Contains(lines, line => line.StartsWith("neotoma: ", StringComparison.Ordinal) && line.Contains(SettingNames.ApiBase));
            Assert.Contains(lines, line => line.StartsWith("neotoma: ", StringComparison.Ordinal) && line.Contains(SettingNames.PersonalTokenMaxDays));
            Assert.DoesNotContain("   at ", said);
        }

        Assert.Contains("exited", failure.Message + failure.InnerException?.Message);
    }
}
