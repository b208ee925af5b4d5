// Support shared by tests and benchmarks of several packages. Never imported by any package's src/.
export {};
