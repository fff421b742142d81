from kube.main import main

main()
