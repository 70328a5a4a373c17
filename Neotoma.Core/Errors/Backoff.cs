namespace Neotoma.Core.Errors;

/// <summary>
/// The one retry pause of Neotoma's background loops (migrations at start-up, the Key Vault key,
/// the revocation listener, revocations the provider did not take): doubling from a first pause up
/// to a ceiling, back to the first after a success.
/// </summary>
public sealed class Backoff
{
    private readonly TimeSpan first;
    private readonly TimeSpan max;

    public Backoff(TimeSpan first, TimeSpan max)
    {
        this.first = first;
        this.max = max;
        Current = first;
    }

    /// <summary>The pause the next failure waits.</summary>
    public TimeSpan Current { get; private set; }

    /// <summary>The pause to wait now; the one after it is twice as long, at most <paramref name="max"/>.</summary>
    public TimeSpan Next()
    {
        var pause = Current;
        Current = TimeSpan.FromTicks(Math.Min(Current.Ticks * 2, max.Ticks));
        return pause;
    }

    public void Reset() => Current = first;

    /// <summary>The pause before attempt <paramref name="attempt"/> + 1 (the first failure waits <paramref name="first"/>), for loops that keep the count, not the state.</summary>
    public static TimeSpan After(int attempt, TimeSpan first, TimeSpan max) =>
        TimeSpan.FromTicks(Math.Min(first.Ticks << Math.Clamp(attempt - 1, 0, 30), max.Ticks));
}
