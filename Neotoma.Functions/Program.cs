using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;
using Neotoma.Core;
using Neotoma.Functions;
using Neotoma.Functions.SelfHost;

// `selfhost` and `migrate` are this project's own verbs; anything else is the Functions
// host launching its worker, which it does with its own arguments.
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
}

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddNeotomaFunctions(builder.Configuration);
await builder.Build().RunAsync();
return 0;
