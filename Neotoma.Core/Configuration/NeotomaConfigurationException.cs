namespace Neotoma.Core.Configuration;

/// <summary>A setting is missing or malformed; the app refuses to start and names it.</summary>
public sealed class NeotomaConfigurationException(string setting, string message) : Exception(message)
{
    public string Setting { get; } = setting;
}
