"""`ocimux serve`: a Docker Engine API subset on a unix socket, so Docker clients drive ocimux.

`listener.serve(dispatcher, socket_path=...)` binds (mode 0600), answers until
SIGINT/SIGTERM, then removes its socket; over TCP, tls.py decides who may connect (loopback, client certificates,
or an explicit `insecure`); connections.py keeps idle clients cheap and bounded, and
requestlog.py logs each request in one line. docker_api.py holds the endpoint table and the
system and image endpoints, container_api.py and exec_api.py the rest, shapes.py Docker's JSON
shapes; httpd.py is the HTTP layer, images.py the image names, openapi.py the description
built from the same table.
A create body's Config/HostConfig becomes a `ContainerConfig` in hostconfig.py (jsonfields.py
reads the JSON, dockercommand.py applies Entrypoint/Cmd, unsupported.py refuses what ocimux
cannot honour); configshapes.py reports the configuration back in inspect.
"""
