// Once execution has started, a GraphQL response carries `data`: null when a
// non-null root field failed (GraphQL specification, "Response" and "Handling
// Execution Errors"). The router runtime drops `data` when the whole of it is
// null, so a mutation a subgraph refused reached the client as `errors`
// alone, which tells a client that the request was never executed.
//
// onExecuteDone runs only for operations that were executed: the plugins that
// refuse a request before execution (variables, limits) stop the chain with
// setResultAndStopExecution, and a plugin listed after them is then never
// reached, so their answers keep the shape of request errors, without `data`.
export const useDataWhenExecuted = () => ({
  onExecute() {
    return {
      onExecuteDone({ result, setResult }) {
        if (!result || typeof result !== 'object' || Symbol.asyncIterator in result) return;
        if (result.data === undefined && Array.isArray(result.errors) && result.errors.length) {
          const { data: _absent, ...rest } = result;
          setResult({ data: null, ...rest });
        }
      },
    };
  },
});
