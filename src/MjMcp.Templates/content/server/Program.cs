using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MyServer.Mj;

var builder = Host.CreateApplicationBuilder(args);
builder.AddMidjourneyMcpServer().WithStdioTransport();
await builder.Build().RunAsync();
