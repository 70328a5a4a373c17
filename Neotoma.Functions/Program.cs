using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neotoma.Functions;
using Neotoma.Functions.SelfHost;

// `selfhost`, `migrate`, `doctor`, `rotate-key` and `register-enterprise-client` are this project's own verbs; anything else
// is the Functions host launching its worker, which it does with its own arguments.
switch (args.FirstOrDefault())
{
    case "selfhost":
        return await Cli.RunAsync(() => SelfHostApplication.Build(args[1..]).RunAsync());
    case "migrate":
        return await Cli.RunAsync(() => Cli.MigrateAsync(args[1..]));
    case "doctor":
        return await Cli.RunAsync(() => Cli.DoctorAsync(args[1..]));
    case "rotate-key":
        return await Cli.RunAsync(() => Cli.RotateKeyAsync(args[1..]));
    case "register-enterprise-client":
        return await Cli.RunAsync(() => Cli.RegisterEnterpriseClientAsync(args[1..]));
}

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddNeotomaFunctions(builder.Configuration);

// Logs, requests and dependencies go to Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING);
// audit events and cleanup counts are Information, which the worker's default filter would drop.
builder.Services
    .AddApplicationInsightsTelemetryWorkerService()
    .ConfigureFunctionsApplicationInsights();
builder.Logging.Services.Configure<LoggerFilterOptions>(options =>
{
    var warningsOnly = options.Rules.FirstOrDefault(rule =>
        rule.ProviderName == "Microsoft.Extensions.Logging.ApplicationInsights.ApplicationInsightsLoggerProvider");
    if (warningsOnly is not null)
    {
        options.Rules.Remove(warningsOnly);
    }
});

// Settings are checked as the host starts: a bad one ends the worker with every failure named, as the verbs do.
return await Cli.RunAsync(() => builder.Build().RunAsync());
