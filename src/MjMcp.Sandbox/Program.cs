using MjMcp.Sandbox;

return await SandboxCommand.RunAsync(args, CancellationToken.None).ConfigureAwait(false);
